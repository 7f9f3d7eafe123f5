import { isTransportFailure } from '../../lib/client/etcd-errors.classifier.js';
import { bootFailure } from '../../lib/config/config-startup.js';
import { EtcdConnectionError } from '../../lib/errors/etcd-connection.error.js';
import { EtcdPermissionError } from '../../lib/errors/etcd-permission.error.js';
import { EtcdUnavailableError } from '../../lib/errors/etcd-unavailable.error.js';

/**
 * bootFailure(): what an online config boot throws when etcd did not list the config in time and
 * there is no snapshot file to serve. The mapping stands in for EtcdConnection.mapError (the same
 * classifier: a transport failure is EtcdUnavailableError, etcd's answer is its own error).
 */
describe('config boot failure: bootFailure()', () => {
  const options = { hosts: ['https://127.0.0.1:2379'], connectTimeout: 5000 };
  const mapError = (err: Error): Error =>
    isTransportFailure(err)
      ? new EtcdUnavailableError('read config', '/config/', options.hosts, err)
      : new EtcdPermissionError('read config', '/config/', 'app');

  it('says a failed TLS handshake is one, as connect() does (credentials to check)', () => {
    const cause = Object.assign(new Error('unable to verify the first certificate'), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    const error = bootFailure(cause, options, mapError);
    expect(error).toBeInstanceOf(EtcdConnectionError);
    expect((error as EtcdConnectionError).tls).toBe(true);
    expect(error.message).toMatch(/^TLS handshake with etcd at https:\/\/127\.0\.0\.1:2379 failed/);
    expect(error.message).toMatch(/credentials\.rootCertificate/);
    expect((error as EtcdConnectionError).cause).toBe(cause);
  });

  it('names the hosts and the timeout when etcd was not reached, without a TLS finding', () => {
    const cause = new Error('14 UNAVAILABLE: No connection established (ECONNREFUSED)');
    const error = bootFailure(cause, options, mapError);
    expect(error).toBeInstanceOf(EtcdConnectionError);
    expect((error as EtcdConnectionError).tls).toBe(false);
    expect(error.message).toMatch(
      /^Cannot reach etcd at https:\/\/127\.0\.0\.1:2379 within 5000 ms/,
    );
  });

  it("passes etcd's own answer through as the connection maps it", () => {
    const cause = new Error('etcdserver: permission denied');
    expect(bootFailure(cause, options, mapError)).toBeInstanceOf(EtcdPermissionError);
  });

  it('does not map a cause that is already an EtcdConnectionError, nor a missing one', () => {
    const unmapped = (): Error => {
      throw new Error('mapError must not be called');
    };
    const earlier = new EtcdConnectionError(options.hosts, 5000, new Error('refused'));
    const fromEarlier = bootFailure(earlier, options, unmapped) as EtcdConnectionError;
    expect([fromEarlier.cause, fromEarlier.tls]).toEqual([earlier, false]);
    const none = bootFailure(undefined, options, unmapped) as EtcdConnectionError;
    expect([none.name, none.tls]).toEqual(['EtcdConnectionError', false]);
  });
});
