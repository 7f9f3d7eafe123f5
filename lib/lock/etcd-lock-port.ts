import { Observable } from 'rxjs';
import type { EtcdConnection } from '../client/etcd-connection.js';
import type { InformerPool } from '../watch/informer-pool.js';
import type { LockPort, LockQueueView } from './lock-port.js';

/**
 * The {@link LockPort} over the module's connection: a put under the lease, and the line from the
 * shared informer of the lock's prefix.
 * @internal
 */
export function etcdLockPort(connection: EtcdConnection, informers: InformerPool): LockPort {
  const kv = connection.kv;
  return {
    async enqueue(key, value, lease, timeoutMs) {
      const put = await kv
        .put(key)
        .value(value)
        .lease(lease)
        .options({ deadline: Date.now() + timeoutMs });
      return Number(put.header.revision);
    },

    queue(prefix) {
      return new Observable<LockQueueView>(subscriber => {
        const handle = informers.acquire(prefix);
        const informer = handle.informer;
        const emit = () => {
          const view = informer.current();
          subscriber.next({
            synced: informer.state.synced,
            revision: view.revision,
            entries: [...view.entries].map(entry => ({
              key: entry.key,
              createRevision: entry.createRevision,
            })),
          });
        };
        const subscriptions = [informer.state$.subscribe(emit), informer.changes$.subscribe(emit)];
        return () => {
          for (const subscription of subscriptions) subscription.unsubscribe();
          handle.release();
        };
      });
    },

    describe(err) {
      return connection.describeFailure(err, 'lock', 'lock');
    },
  };
}
