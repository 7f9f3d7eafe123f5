import { BehaviorSubject, filter, map, type Observable } from 'rxjs';
import type {
  CampaignResult,
  ElectionPort,
  LeaderKeyView,
} from '../../lib/election/election-port.js';
import type { LockPort, LockQueueView } from '../../lib/lock/lock-port.js';
import type { FakeClock } from './fake-clock.js';
import type { FakeLeasePort, FakeLeaseStore } from './fake-lease-port.js';

interface StoredKey {
  readonly value: string;
  readonly lease: string;
  readonly createRevision: number;
}

/**
 * An in-memory etcd key space on a {@link FakeLeaseStore} (a lease that ends deletes its keys),
 * for unit tests of elections and locks. Each instance reaches it through {@link link}, on the
 * same conditions as its {@link FakeLeasePort} (latency, blackhole).
 */
export class FakeLeaseKv {
  readonly keys = new Map<string, StoredKey>();
  private revision = 1;
  private readonly changes = new BehaviorSubject<number>(1);

  constructor(
    private readonly clock: FakeClock,
    store: FakeLeaseStore,
  ) {
    store.onEnd(lease => {
      for (const [key, stored] of this.keys) if (stored.lease === lease) this.delete(key);
    });
  }

  /** An outside writer deletes a key. */
  delete(key: string): void {
    if (this.keys.delete(key)) this.changes.next(++this.revision);
  }

  /** The ports of one instance, over its link (`leases`: its lease port, whose conditions apply). */
  link(leases: FakeLeasePort): ElectionPort & LockPort {
    const call = async <T>(fn: () => T): Promise<T> => {
      if (leases.blackhole) {
        await new Promise<void>(resolve =>
          this.clock.setTimer(resolve, 2_000, { background: true }),
        );
        throw new Error('14 UNAVAILABLE: deadline exceeded');
      }
      if (leases.latencyMs > 0) {
        await new Promise<void>(resolve =>
          this.clock.setTimer(resolve, leases.latencyMs, { background: true }),
        );
      }
      const result = fn();
      if (leases.latencyMs > 0) {
        await new Promise<void>(resolve =>
          this.clock.setTimer(resolve, leases.latencyMs, { background: true }),
        );
      }
      return result;
    };
    const put = (key: string, value: string, lease: string): number => {
      if (!leases.store.live.has(lease)) throw new Error('etcdserver: requested lease not found');
      const createRevision = this.keys.get(key)?.createRevision ?? this.revision + 1;
      this.keys.set(key, { value, lease, createRevision });
      this.changes.next(++this.revision);
      return this.revision;
    };
    return {
      campaign: (key, value, lease): Promise<CampaignResult> =>
        call(() => {
          if (!this.keys.has(key)) put(key, value, lease);
          return { holderLease: this.keys.get(key)?.lease, revision: this.revision };
        }),
      observe: (key): Observable<LeaderKeyView> =>
        this.changes.pipe(
          filter(() => !leases.blackhole), // a partitioned watch hears nothing
          map(revision => ({
            synced: true,
            connected: true,
            revision,
            holderLease: this.keys.get(key)?.lease,
          })),
        ),
      enqueue: (key, value, lease) => call(() => put(key, value, lease)),
      queue: (prefix): Observable<LockQueueView> =>
        this.changes.pipe(
          filter(() => !leases.blackhole),
          map(revision => ({
            synced: true,
            revision,
            entries: [...this.keys]
              .filter(([key]) => key.startsWith(prefix))
              .map(([key, stored]) => ({ key, createRevision: stored.createRevision })),
          })),
        ),
      describe: err => (err instanceof Error ? err.message : String(err)),
    };
  }
}
