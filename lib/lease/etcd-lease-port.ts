import { EtcdLeaseInvalidError } from 'etcd3';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { describeCause } from '../common/describe-cause.js';
import { within } from '../common/timing.js';
import { LeaseGoneError, type KeepAliveStream, type LeasePort } from './lease-port.js';

/**
 * The {@link LeasePort} over the module's connection: etcd3's lease client, each unary call with a
 * gRPC deadline, and one long-lived keep-alive stream per lease (no deadline of its own: it lives
 * as long as the lease is kept; the engine reopens it when it breaks or stops answering).
 * @internal
 */
export function etcdLeasePort(connection: EtcdConnection, operation = 'lease'): LeasePort {
  const leases = () => connection.kv.leaseClient;
  const deadline = (timeoutMs: number) => ({ deadline: Date.now() + timeoutMs });

  return {
    async grant(ttl, timeoutMs) {
      const granted = await leases().leaseGrant({ TTL: ttl }, deadline(timeoutMs));
      return { id: String(granted.ID), ttl: Number(granted.TTL) };
    },

    keepAlive(lease, listener): KeepAliveStream {
      let closed = false;
      let queued = 0;
      let stream: Awaited<ReturnType<ReturnType<typeof leases>['leaseKeepAlive']>> | undefined;
      const broken = (err: unknown) => {
        if (closed) return;
        closed = true;
        listener.broken(err);
      };
      leases()
        .leaseKeepAlive()
        .then(
          opened => {
            stream = opened;
            opened.on('data', res => {
              if (!closed) listener.answer(Number(res.TTL));
            });
            // Keep an error listener for ever: a closed stream may still report its cancel.
            opened.on('error', (err: unknown) => broken(err));
            opened.on('end', () => broken(new Error('the keep-alive stream ended')));
            if (closed) {
              opened.end();
              return;
            }
            for (; queued > 0; queued--) opened.write({ ID: lease });
          },
          (err: unknown) => broken(err),
        );
      return {
        send() {
          if (closed) return;
          if (stream) stream.write({ ID: lease });
          else queued++;
        },
        close() {
          closed = true;
          stream?.end();
        },
      };
    },

    async revoke(lease, timeoutMs) {
      try {
        const outcome = await within(
          leases().leaseRevoke({ ID: lease }, deadline(timeoutMs)),
          timeoutMs,
        );
        if (!outcome.settled) throw new Error(`no answer within ${timeoutMs} ms`);
      } catch (err) {
        if (!(err instanceof EtcdLeaseInvalidError)) throw err;
      }
    },

    describe(err) {
      if (err instanceof LeaseGoneError) return err.message;
      if (err instanceof EtcdLeaseInvalidError) return describeCause(err);
      return connection.describeFailure(err, operation, 'lease');
    },
  };
}
