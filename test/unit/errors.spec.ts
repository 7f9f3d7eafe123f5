import * as api from '../../lib/index.js';
import { EtcdAuthTokenExpiredError } from '../../lib/errors/etcd-auth-token-expired.error.js';
import { EtcdWatchStalledError } from '../../lib/errors/etcd-watch-stalled.error.js';
import {
  ConfigDisabledError,
  EtcdRequestRejectedError,
  EtcdUnavailableError,
  ConfigKeyNotFoundError,
  ConfigRevisionCompactedError,
  ConfigRevisionAbsentError,
  EtcdAuthError,
  EtcdConnectionError,
  EtcdPermissionError,
  EtcdStoppedError,
  InvalidOptionsError,
  NestEtcdError,
  OptionalDependencyMissingError,
} from '../../lib/index.js';

describe('errors: one home, one base class', () => {
  const samples: Error[] = [
    new ConfigDisabledError('greeting', 'requested'),
    new ConfigKeyNotFoundError('greeting', '/config/'),
    new ConfigRevisionCompactedError('greeting', 3),
    new ConfigRevisionAbsentError('greeting', 3),
    new OptionalDependencyMissingError('@nestjs/config', 'config.nestConfig'),
    new EtcdAuthError('app', ['http://127.0.0.1:2379']),
    new EtcdConnectionError(['http://127.0.0.1:2379'], 5000, new Error('connect ECONNREFUSED')),
    new EtcdPermissionError('set', '/config/greeting', 'app'),
    new EtcdStoppedError('registration of "/services/a/1"', 'before it completed'),
    new EtcdWatchStalledError(),
    new InvalidOptionsError('registry.ttl', 1, 'an integer number of seconds >= 2'),
    new EtcdRequestRejectedError('set', '/config/big', 'etcdserver: request is too large'),
    new EtcdUnavailableError(
      'set',
      '/config/a',
      ['http://127.0.0.1:2379'],
      new Error('ECONNRESET'),
    ),
    new EtcdAuthTokenExpiredError(),
  ];

  it.each(samples.map(error => [error.name, error] as const))(
    '%s is a NestEtcdError and an Error, named after its class',
    (name, error) => {
      expect(error).toBeInstanceOf(NestEtcdError);
      expect(error).toBeInstanceOf(Error);
      expect(error.constructor.name).toBe(name);
      expect(error.message.length).toBeGreaterThan(10);
    },
  );

  it('every error class exported by the package extends NestEtcdError', () => {
    const errorClasses = Object.entries(api).filter(
      ([, value]) => typeof value === 'function' && value.prototype instanceof Error,
    );
    expect(errorClasses.length).toBeGreaterThanOrEqual(samples.length + 1);
    for (const [name, value] of errorClasses) {
      const prototype = (value as { prototype: object }).prototype;
      expect([name, prototype instanceof NestEtcdError || value === NestEtcdError]).toEqual([
        name,
        true,
      ]);
    }
  });

  it('tells a package user what to check when etcd is unreachable, not a repository script', () => {
    const error = new EtcdConnectionError(['http://127.0.0.1:2379'], 5000, new Error('refused'));
    expect(error.message).not.toMatch(/scripts\//);
    expect(error.message).toMatch(/ETCD_HOSTS/);
  });

  it('says what to check in credentials when the connection found a TLS failure, and only then', () => {
    const cause = new Error('unable to verify the first certificate');
    const tls = new EtcdConnectionError(['https://127.0.0.1:2379'], 5000, cause, undefined, true);
    expect(tls.tls).toBe(true);
    expect(tls.message).toMatch(/^TLS handshake with etcd at https:\/\/127\.0\.0\.1:2379 failed/);
    expect(tls.message).toMatch(/credentials\.rootCertificate/);
    // The error itself does not read the message: the classification is the connection's.
    const unclassified = new EtcdConnectionError(['https://127.0.0.1:2379'], 5000, cause);
    expect(unclassified.tls).toBe(false);
    expect(unclassified.message).toMatch(/^Cannot reach etcd at/);
  });
});
