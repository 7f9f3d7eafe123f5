import type { Subscription } from 'rxjs';
import type { Clock } from '../common/clock.js';
import type { Lease, LeaseEngine, LeaseLoss } from '../lease/lease-engine.js';

/**
 * The lease a `SelfRegistration` holds now (granted or revived by the lease engine), whether its key
 * was put under it, and the lease the local clock gave up on (to ask etcd about before granting a
 * new one, and to revoke on stop: it may still be alive in etcd).
 * @internal
 */
export class HeldLease {
  /** The current lease, if any. */
  lease: Lease | undefined;
  /** The lease the local clock gave up on, to ask etcd about before granting a new one. */
  reviveId: string | undefined;
  /** The key was put under the current lease (so its absence means someone deleted it). */
  published = false;
  private subscription: Subscription | undefined;

  constructor(
    private readonly leases: LeaseEngine,
    private readonly clock: Clock,
  ) {}

  /** Holds `lease`, following its loss; false when it was lost at once (already dropped). */
  adopt(lease: Lease, onLost: (loss: LeaseLoss) => void): boolean {
    this.lease = lease;
    this.published = false;
    this.subscription = lease.lost$.subscribe(onLost);
    return this.lease === lease;
  }

  /** Lets go of the current lease (no longer followed) and returns it. */
  drop(): Lease | undefined {
    const lease = this.lease;
    this.lease = undefined;
    this.published = false;
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    return lease;
  }

  /**
   * Stop, within `deadline` (on the clock): with `revoke`, the current lease is revoked (which
   * deletes the key; a failure is reported, the lease then expires within its TTL) and so is a lease
   * the local clock gave up on; without it, the current lease is only released (no more renewals).
   */
  async end(
    revoke: boolean,
    deadline: number,
    onRevokeFailed: (reason: string) => void,
  ): Promise<void> {
    const current = this.drop();
    const forgotten = this.reviveId;
    this.reviveId = undefined;
    const remaining = () => Math.max(200, deadline - this.clock.now());
    if (!revoke) {
      current?.release();
      return;
    }
    if (current) {
      try {
        await current.revoke(remaining());
      } catch (err) {
        onRevokeFailed(this.leases.describe(err));
      }
    }
    if (forgotten) await this.leases.revoke(forgotten, remaining()).catch(() => undefined);
  }
}
