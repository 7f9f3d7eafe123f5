import { Observable } from 'rxjs';
import type { EtcdConnection } from '../client/etcd-connection.js';
import type { InformerPool } from '../watch/informer-pool.js';
import type { CampaignResult, ElectionPort, LeaderKeyView } from './election-port.js';

/**
 * The {@link ElectionPort} over the module's connection: the campaign is one etcd transaction
 * (create the key only when absent, else read it); the view comes from the shared informer of the
 * election's own prefix (`<prefix><name>/`: one key).
 * @internal
 */
export function etcdElectionPort(
  connection: EtcdConnection,
  informers: InformerPool,
  electionPrefix: string,
): ElectionPort {
  const kv = connection.kv;
  return {
    async campaign(key, value, lease, timeoutMs): Promise<CampaignResult> {
      const res = await kv
        .if(key, 'Create', '==', 0)
        .then(kv.put(key).value(value).lease(lease))
        .else(kv.get(key))
        .options({ deadline: Date.now() + timeoutMs })
        .commit();
      const holder = res.succeeded ? lease : res.responses[0]?.response_range?.kvs[0]?.lease;
      return {
        holderLease: holder === undefined ? undefined : String(holder),
        revision: Number(res.header.revision),
      };
    },

    observe(key) {
      return new Observable<LeaderKeyView>(subscriber => {
        const handle = informers.acquire(electionPrefix);
        const informer = handle.informer;
        const emit = () => {
          const state = informer.state;
          subscriber.next({
            synced: state.synced,
            connected: state.connected,
            revision: informer.current().revision,
            holderLease: informer.get(key)?.lease,
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
      return connection.describeFailure(err, 'campaign', electionPrefix);
    },
  };
}
