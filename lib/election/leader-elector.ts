import type { Logger } from '@nestjs/common';
import type { Namespace } from 'etcd3';
import { BehaviorSubject, distinctUntilChanged, type Observable, type Subscription } from 'rxjs';
import { describeCause } from '../common/describe-cause.js';
import { Sleeper, backoffDelay } from '../common/backoff.js';
import type { InformerHandle, InformerPool } from '../watch/informer-pool.js';
import type { InformerEntry } from '../watch/informer.interfaces.js';
import { within } from '../common/timing.js';
import type { LeaseTiming } from './election-timing.js';
import { LeaseKeeper } from './lease-keeper.js';

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
 * when absent, attached to this candidate's lease. The holder leads while its lease is renewed in
 * time (see {@link LeaseKeeper}); it stops leading when a renewal is not confirmed within the renew
 * deadline, when etcd says the lease is gone, or when the watch shows its key deleted or replaced.
 * Other candidates watch the key and try again as soon as it is deleted (and every retry period
 * while they cannot see it).
 * @internal
 */
export class LeaderElector {
  private readonly keeper: LeaseKeeper;
  private readonly leadingSubject = new BehaviorSubject<boolean>(false);
  private readonly sleeper = new Sleeper();
  /** Set when a watch event asks for a pass while the loop is not asleep. */
  private kicked = false;
  private handle: InformerHandle | undefined;
  private subscriptions: Subscription[] = [];
  private running: Promise<void> | undefined;
  private stopped = false;
  private leading = false;
  /** Revision at which this candidate's key was last confirmed (txn header). */
  private heldAtRevision = 0;
  private failures = 0;
  private outageLogged = false;

  /** Whether this candidate leads; replays the current value; no repeats. */
  readonly isLeader$: Observable<boolean> = this.leadingSubject.pipe(distinctUntilChanged());

  constructor(
    private readonly kv: Namespace,
    private readonly informers: InformerPool,
    readonly name: string,
    private readonly prefix: string,
    private readonly instanceId: string,
    readonly timing: LeaseTiming,
    private readonly logger: Logger,
  ) {
    this.keeper = new LeaseKeeper(kv, timing);
  }

  /** True while this candidate holds the key and its lease is within the renew deadline. */
  get isLeader(): boolean {
    return this.leading && this.keeper.valid;
  }

  /** Joins the election (idempotent). */
  start(): void {
    if (this.running || this.stopped) return;
    this.handle = this.informers.acquire(electionPrefix(this.prefix, this.name));
    const informer = this.handle.informer;
    this.subscriptions.push(
      informer.changes$.subscribe(() => this.observe()),
      informer.state$.subscribe(() => this.observe()),
      this.keeper.lost$.subscribe(reason => this.stepDown(reason)),
    );
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
    const deadline = Date.now() + timeoutMs;
    if (this.running) await within(this.running, timeoutMs);
    try {
      await this.keeper.revoke(Math.max(200, deadline - Date.now()));
      if (wasLeading) this.logger.log(`resigned leadership of "${this.name}"`);
    } catch (err) {
      this.logger.warn(
        `could not revoke the lease of election "${this.name}" (${describeCause(err)}); ` +
          `the leader key expires within ${this.timing.ttl}s`,
      );
    } finally {
      this.keeper.close();
      for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
      this.handle?.release();
      this.handle = undefined;
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
            `election "${this.name}": campaign failed (${describeCause(err)}); retrying`,
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
    const informer = this.handle?.informer;
    if (!informer || !informer.state.connected || !informer.state.synced) return true;
    const entry = informer.get(leaderKey(this.prefix, this.name));
    return entry === undefined || entry.lease === this.keeper.id;
  }

  private async campaign(): Promise<void> {
    const lease = await this.keeper.ensure();
    if (this.stopped) return;
    const key = leaderKey(this.prefix, this.name);
    const value = JSON.stringify({ instanceId: this.instanceId, since: new Date().toISOString() });
    const res = await this.kv
      .if(key, 'Create', '==', 0)
      .then(this.kv.put(key).value(value).lease(lease))
      .else(this.kv.get(key))
      .options({ deadline: Date.now() + Math.max(1000, this.timing.retryPeriodMs) })
      .commit();
    if (this.stopped) return;
    const holder = res.succeeded ? lease : res.responses[0]?.response_range?.kvs[0]?.lease;
    if (holder !== lease || !this.keeper.valid) {
      // Someone else leads: let our lease lapse (no renewals) until the key is free again.
      return;
    }
    this.heldAtRevision = Number(res.header.revision);
    this.keeper.startHeartbeat();
    if (!this.leading) {
      this.logger.log(
        `"${this.instanceId}" leads "${this.name}" (lease ${lease}, ttl ${this.timing.ttl}s)`,
      );
    }
    this.setLeading(true);
  }

  /** Reacts to the watch: our key deleted or taken over → step down; key free → campaign now. */
  private observe(): void {
    const informer = this.handle?.informer;
    if (!informer || this.stopped || !informer.state.synced) return;
    const entry = informer.get(leaderKey(this.prefix, this.name));
    if (this.leading) {
      // Only a view at least as new as our own confirmation can say we lost the key.
      if (informer.current().revision < this.heldAtRevision) return;
      if (entry === undefined || entry.lease !== this.keeper.id) {
        this.stepDown('the leader key was deleted or replaced');
        this.wakeLoop();
      }
    } else if (entry === undefined) {
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
    this.keeper.stopHeartbeat();
    this.setLeading(false);
    if (!this.stopped) {
      this.logger.warn(`"${this.instanceId}" stopped leading "${this.name}": ${reason}`);
    }
    this.wakeLoop();
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    if (!this.leadingSubject.closed && this.leadingSubject.getValue() !== leading) {
      this.leadingSubject.next(leading);
    }
  }
}
