import { EtcdLeaseInvalidError } from 'etcd3';
import { Observable } from 'rxjs';
import { describeCause } from '../common/describe-cause.js';
import type { EtcdConnection } from '../client/etcd-connection.js';
import type { InformerPool } from '../watch/informer-pool.js';
import { within } from '../common/timing.js';
import { keepAliveOnce } from '../client/lease-keep-alive.js';
import { LeaseGoneError, type KeyHolder, type RegistrationPort } from './registration-port.js';

/**
 * The {@link RegistrationPort} over the module's connection: lease calls on etcd3's lease client
 * (each with a gRPC deadline), the own-key watch on the shared informer of the service's prefix.
 * @internal
 */
export function etcdRegistrationPort(
  connection: EtcdConnection,
  informers: InformerPool,
  servicePrefix: string,
  operationKey: string,
): RegistrationPort {
  const kv = connection.kv;
  const deadline = (timeoutMs: number) => ({ deadline: Date.now() + timeoutMs });
  const leaseGone = (err: unknown): Error =>
    err instanceof EtcdLeaseInvalidError
      ? new LeaseGoneError(describeCause(err))
      : err instanceof Error
        ? err
        : new Error(String(err));

  return {
    async grant(ttl, timeoutMs) {
      const granted = await kv.leaseClient.leaseGrant({ TTL: ttl }, deadline(timeoutMs));
      return String(granted.ID);
    },

    async keepAlive(lease, timeoutMs) {
      try {
        return await keepAliveOnce(kv, lease, timeoutMs);
      } catch (err) {
        throw leaseGone(err);
      }
    },

    async put(key, value, lease, timeoutMs) {
      try {
        const res = await kv.put(key).value(value).lease(lease).options(deadline(timeoutMs));
        return Number(res.header.revision);
      } catch (err) {
        throw leaseGone(err);
      }
    },

    async get(key, timeoutMs): Promise<KeyHolder | undefined> {
      const res = await kv.get(key).options(deadline(timeoutMs)).exec();
      const kvs = res.kvs[0];
      if (!kvs) return undefined;
      return { value: kvs.value.toString('utf8'), lease: String(kvs.lease) };
    },

    async revoke(lease, timeoutMs) {
      try {
        const outcome = await within(
          kv.leaseClient.leaseRevoke({ ID: lease }, deadline(timeoutMs)),
          timeoutMs,
        );
        if (!outcome.settled) throw new Error(`no answer within ${timeoutMs} ms`);
      } catch (err) {
        if (!(err instanceof EtcdLeaseInvalidError)) throw err;
      }
    },

    watch(key) {
      return new Observable(subscriber => {
        const handle = informers.acquire(servicePrefix);
        const subscription = handle.informer.changes$.subscribe(change => {
          if (change.key !== key) return;
          subscriber.next(
            change.type === 'put' && change.entry
              ? {
                  type: 'put',
                  lease: change.entry.lease,
                  value: change.entry.value.toString('utf8'),
                  revision: change.revision,
                }
              : { type: 'delete', revision: change.revision },
          );
        });
        return () => {
          subscription.unsubscribe();
          handle.release();
        };
      });
    },

    describe(err) {
      if (err instanceof LeaseGoneError) return err.message;
      return connection.describeFailure(err, 'register', operationKey);
    },
  };
}
