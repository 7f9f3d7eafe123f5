import { BehaviorSubject, distinctUntilChanged, type Observable, type Subscription } from 'rxjs';
import { backoffDelay } from '../common/backoff.js';
import { Sleeper, systemClock, type Clock } from '../common/clock.js';
import { within } from '../common/timing.js';
import type { Lease, LeaseEngine, LeaseLoss } from '../lease/lease-engine.js';
import type { LeaseTiming } from '../lease/lease-timing.js';
import type { InformerEntry } from '../watch/informer.interfaces.js';
import type { ElectionPort, LeaderKeyView } from './election-port.js';

/** The log lines a {@link LeaderElector} writes. @internal */
export interface ElectionLogger {
  log(message: string): void;
  warn(message: string): void;
}

/** The key of an election's leader under the election prefix: `<prefix><name>/leader`. @internal */
export function leaderKey(prefix: string, name: string): string {
  return `${electionPrefix(prefix, name)}leader`;
}

/** The prefix watched for one election. @internal */
export function electionPrefix(prefix: string, name: string): string {
  return `${prefix}${name}/`;
}

/** The instance id written in a leader key (JSON `{ instanceId }`, or a plain string). @internal */
export function leaderIdOf(entry: InformerEntry | undefined): string | undefined {
  if (!entry) return undefined;
  const text = entry.value.toString('utf8');
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && 'instanceId' in parsed) {
      const id = parsed.instanceId;
      if (typeof id === 'string') return id;
    }
  } catch {
    // a plain string written by someone else
  }
  return text;
}

/**
 * One candidate in one election: a single key `<prefix><name>/leader` created in a transaction only
 * when absent, attached to this candidate's lease (kept by the {@link LeaseEngine} with the
 * election's bound: the renew deadline). The holder leads while its lease is provably alive: it
 * stops leading when no renewal was confirmed within the renew deadline, when etcd says the lease
 * is gone, or when the watch shows its key deleted or replaced. Stopping for lack of renewals also
 * gives the key up in etcd (the lease is revoked when etcd can be reached), so another candidate
 * takes over within about one TTL instead of waiting for late renewals to stop. Other
 * candidates watch the key and try again as soon as it is deleted (and every retry period while
 * they cannot see it). Never two leaders: the renew deadline ends before etcd can expire the
 * lease, and a new leader needs the old key gone.
 * @internal
 */
export class LeaderElector {
  private readonly leadingSubject = new BehaviorSubject<boolean>(false);
  private readonly sleeper: Sleeper;
  private readonly clock: Clock;
  /** Set when a watch event asks for a pass while the loop is not asleep. */
  private kicked = false;
  private lease: Lease | undefined;
  private leaseSubscription: Subscription | undefined;
  private viewSubscription: Subscription | undefined;
  private view: LeaderKeyView | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private leading = false;
  /** Revision at which this candidate's key was last confirmed (txn header). */
  private heldAtRevision = 0;
  private failures = 0;
  private outageLogged = false;
  /** Revocations of given-up leases still in flight (awaited by {@link resign}). */
  private readonly givingUp = new Set<Promise<void>>();

  /** Whether this candidate leads; replays the current value; no repeats. */
  readonly isLeader$: Observable<boolean> = this.leadingSubject.pipe(distinctUntilChanged());

  constructor(
    private readonly port: ElectionPort,
    private readonly leases: LeaseEngine,
    readonly name: string,
    private readonly key: string,
    private readonly instanceId: string,
    readonly timing: LeaseTiming,
    private readonly logger: ElectionLogger,
    clock: Clock = systemClock,
  ) {
    this.clock = clock;
    this.sleeper = new Sleeper(clock);
  }

  /** True while this candidate holds the key and its lease is within the renew deadline. */
  get isLeader(): boolean {
    return this.leading && this.lease !== undefined && this.lease.alive;
  }

  /** Joins the election (idempotent). */
  start(): void {
    if (this.running || this.stopped) return;
    this.viewSubscription = this.port.observe(this.key).subscribe(view => this.observe(view));
    this.running = this.loop();
  }

  /**
   * Leaves the election: stops campaigning and, when it holds the key, revokes its lease (which
   * deletes the key, so the next candidate takes over at once). Waits at most `timeoutMs`.
   */
  async resign(timeoutMs: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const wasLeading = this.leading;
    this.setLeading(false);
    this.sleeper.cancel();
    const deadline = this.clock.now() + timeoutMs;
    if (this.running) await within(this.running, timeoutMs).catch(() => undefined);
    const lease = this.dropLease();
    try {
      await lease?.revoke(Math.max(200, deadline - this.clock.now()));
      if (wasLeading) this.logger.log(`resigned leadership of "${this.name}"`);
    } catch (err) {
      this.logger.warn(
        `could not revoke the lease of election "${this.name}" (${this.leases.describe(err)}); ` +
          `the leader key expires within ${this.timing.ttl}s`,
      );
    } finally {
      if (this.givingUp.size > 0) {
        await within(Promise.all(this.givingUp), Math.max(0, deadline - this.clock.now())).catch(
          () => undefined,
        );
      }
      this.viewSubscription?.unsubscribe();
      this.viewSubscription = undefined;
      this.leadingSubject.complete();
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.kicked = false;
      let wait = this.timing.retryPeriodMs;
      try {
        if (!this.leading && this.mayCampaign()) await this.campaign();
        this.failures = 0;
        if (this.outageLogged) {
          this.outageLogged = false;
          this.logger.log(`election "${this.name}": etcd answers again`);
        }
      } catch (err) {
        if (this.stopped) break;
        if (!this.outageLogged) {
          this.outageLogged = true;
          this.logger.warn(
            `election "${this.name}": campaign failed (${this.port.describe(err)}); retrying`,
          );
        }
        wait = Math.min(wait, backoffDelay(this.failures++, { initialDelay: 100, maxDelay: wait }));
      }
      if (this.stopped) break;
      // A watch event that arrived while this pass was running must not wait a retry period.
      if (!this.kicked) await this.sleeper.sleep(wait);
    }
  }

  /** Worth a transaction: the key looks free, looks like ours, or the watch cannot tell. */
  private mayCampaign(): boolean {
    const view = this.view;
    if (!view || !view.connected || !view.synced) return true;
    return view.holderLease === undefined || view.holderLease === this.lease?.id;
  }

  /** The candidate's lease: the one it holds while alive, else a new one. */
  private async ensureLease(): Promise<Lease> {
    if (this.lease?.alive) return this.lease;
    this.dropLease()?.release();
    const lease = await this.leases.grant({
      ttl: this.timing.ttl,
      renewEveryMs: this.timing.retryPeriodMs,
      boundMs: this.timing.renewDeadlineMs,
      timeoutMs: this.callTimeout(),
    });
    if (this.stopped) {
      // nobody will renew it: give it back at once
      void lease.revoke(this.callTimeout()).catch(() => undefined);
      throw new Error('the election was left');
    }
    this.lease = lease;
    this.leaseSubscription = lease.lost$.subscribe(loss => this.onLeaseLost(lease, loss));
    return lease;
  }

  private async campaign(): Promise<void> {
    const lease = await this.ensureLease();
    if (this.stopped) return;
    const value = JSON.stringify({
      instanceId: this.instanceId,
      since: new Date(this.clock.wallNow()).toISOString(),
    });
    const res = await this.port.campaign(this.key, value, lease.id, this.callTimeout());
    if (this.stopped || lease !== this.lease) return;
    if (res.holderLease !== lease.id || !lease.alive) {
      // Someone else leads: keep the lease (renewed on its stream) for the next campaign.
      return;
    }
    this.heldAtRevision = res.revision;
    if (!this.leading) {
      this.logger.log(
        `"${this.instanceId}" leads "${this.name}" (lease ${lease.id}, ttl ${this.timing.ttl}s)`,
      );
    }
    this.setLeading(true);
  }

  /** The lease can no longer be relied on: stop leading, and give the key up in etcd. */
  private onLeaseLost(lease: Lease, loss: LeaseLoss): void {
    if (lease !== this.lease) return;
    this.dropLease();
    const wasLeading = this.leading;
    this.stepDown(
      loss.cause === 'gone'
        ? 'the lease expired or was revoked'
        : `no renewal confirmed within the renew deadline (${this.timing.renewDeadlineMs} ms)`,
    );
    if (wasLeading && loss.cause === 'expired' && !this.stopped) {
      // Late renewals may still keep the lease (and the key) alive in etcd: revoke it, so another
      // candidate can take over now rather than after renewals stop arriving.
      const giveUp = lease
        .revoke(this.callTimeout())
        .then(
          () =>
            this.logger.log(
              `gave up leadership of "${this.name}" in etcd (lease ${lease.id} revoked)`,
            ),
          () => undefined, // unreachable: the lease expires within its TTL anyway
        )
        .finally(() => this.givingUp.delete(giveUp));
      this.givingUp.add(giveUp);
    }
  }

  /** Reacts to the watch: our key deleted or taken over → step down; key free → campaign now. */
  private observe(view: LeaderKeyView): void {
    this.view = view;
    if (this.stopped || !view.synced) return;
    if (this.leading) {
      // Only a view at least as new as our own confirmation can say we lost the key.
      if (view.revision < this.heldAtRevision) return;
      if (view.holderLease === undefined || view.holderLease !== this.lease?.id) {
        this.stepDown('the leader key was deleted or replaced');
      }
    } else if (view.holderLease === undefined) {
      this.wakeLoop();
    }
  }

  /** Runs the loop's next pass now: ends its sleep, or skips the next one if it is busy. */
  private wakeLoop(): void {
    this.kicked = true;
    this.sleeper.cancel();
  }

  private stepDown(reason: string): void {
    if (!this.leading) return;
    this.setLeading(false);
    if (!this.stopped) {
      this.logger.warn(`"${this.instanceId}" stopped leading "${this.name}": ${reason}`);
    }
    this.wakeLoop();
  }

  private dropLease(): Lease | undefined {
    const lease = this.lease;
    this.lease = undefined;
    this.leaseSubscription?.unsubscribe();
    this.leaseSubscription = undefined;
    return lease;
  }

  /**
   * Bound of one call: half the TTL (at least 2 s), well above a slow link's round trip (a 1.1 s
   * each-way link answers in 2.2 s); a campaign answered too late is harmless (the next one reads
   * the key and finds our lease).
   */
  private callTimeout(): number {
    return Math.max(2000, (this.timing.ttl * 1000) / 2);
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    if (!this.leadingSubject.closed && this.leadingSubject.getValue() !== leading) {
      this.leadingSubject.next(leading);
    }
  }
}
