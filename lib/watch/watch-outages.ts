import { Logger } from '@nestjs/common';
import { printableKey } from './etcd-key.js';
import type { InformerClock } from './informer-port.interface.js';

/** A watch lost again within this long (ms) of recovering is a flap of the same unstable link. */
export const FLAP_WINDOW_MS = 30_000;

/** While a link flaps, at most one summary line per this long (ms). */
const FLAP_REPORT_MS = 60_000;

/** What one informer tells when its watch is lost. @internal */
export interface WatchLoss {
  readonly prefix: string;
  /** Why (one line). */
  readonly reason: string;
  /** Keys the informer serves meanwhile. */
  readonly keys: number;
  /** The revision it will resume from (+ 1). */
  readonly revision: number;
}

/** How one informer came back. @internal */
export interface WatchRecovery {
  readonly prefix: string;
  /** `resumed`: watching again from its revision + 1; `re-listed`: etcd had compacted it. */
  readonly how: 'resumed' | 're-listed';
  /** The revision it is at. */
  readonly revision: number;
  /** Changes a re-list found (0 for a resume: its events arrive as ordinary changes). */
  readonly changes: number;
}

/**
 * The outage log of every informer of one app (one per `InformerPool`, hence per connection): all
 * of them ride one gRPC watch stream, so when etcd goes away they all lose their watch at once. One
 * warning when the first is lost ("N watches serve their last keys and resume when etcd answers"),
 * one line when the last is back ("resumed after X s"), never one per watch: an app discovering
 * 1,000 services logs two lines per outage, not 2,000.
 *
 * A loss within {@link FLAP_WINDOW_MS} of a recovery is a flap of an unstable link: named once,
 * then counted, one summary line a minute at most.
 * @internal
 */
export class WatchOutages {
  private readonly down = new Map<number, WatchLoss>();
  private watches = 0;
  private nextId = 0;
  /** When the current outage started (clock ms), while one is logged. */
  private since: number | undefined;
  private reason = '';
  private relisted = 0;
  private caughtUp = 0;
  private recoveredAt: number | undefined;
  private flaps = 0;
  private flapsSince = 0;
  private flapReportedAt = Number.NEGATIVE_INFINITY;
  /** The current outage is a flap (counted or named), not a fresh one. */
  private flapping = false;
  /** Compaction warnings logged since the current outage started. */
  private compactionsLogged = 0;
  /** Informers backing off after a failure, each woken when another watch of the app is back. */
  private readonly waiting = new Map<number, () => void>();

  constructor(
    private readonly clock: InformerClock,
    private readonly logger: Logger = new Logger('EtcdInformer'),
  ) {}

  /** Watches registered (informers started and not stopped). */
  get size(): number {
    return this.watches;
  }

  /** Watches lost and not yet back. */
  get lost(): number {
    return this.down.size;
  }

  /** An informer starts: returns its id. */
  register(): number {
    this.watches++;
    return ++this.nextId;
  }

  /** An informer stopped: it no longer counts (nor keeps an outage open). */
  unregister(id: number): void {
    this.watches = Math.max(0, this.watches - 1);
    this.waiting.delete(id);
    // Stopped while lost (a shutdown, a released watch): nothing came back, so nothing to report.
    if (this.down.delete(id) && this.down.size === 0) this.since = undefined;
  }

  /** Whether the watch of `id` is counted as lost. */
  isLost(id: number): boolean {
    return this.down.has(id);
  }

  /** The watch of `id` broke (etcd unreachable, a stream error, a refusal). */
  markLost(id: number, loss: WatchLoss): void {
    if (this.down.has(id)) {
      this.down.set(id, loss);
      return;
    }
    this.down.set(id, loss);
    if (this.since !== undefined) return; // already reported: this app's outage
    this.start(loss);
  }

  /**
   * While the informer `id` backs off after a failure, `wake` is called as soon as another watch of
   * the app is back: etcd answers again, so it need not wait out its whole backoff (the informer
   * then waits a short jittered delay of its own). Returns the call that stops listening.
   */
  whenAnotherRecovers(id: number, wake: () => void): () => void {
    this.waiting.set(id, wake);
    return () => {
      if (this.waiting.get(id) === wake) this.waiting.delete(id);
    };
  }

  /** The watch of `id` is back (acknowledged again, or re-listed). */
  markRecovered(id: number, recovery: WatchRecovery): void {
    if (!this.down.delete(id)) return;
    for (const [other, wake] of [...this.waiting]) {
      if (other === id) continue;
      this.waiting.delete(other);
      wake();
    }
    if (recovery.how === 're-listed') this.relisted++;
    this.caughtUp += recovery.changes;
    if (this.down.size === 0) this.end(recovery);
  }

  /**
   * etcd canceled a watch because its start revision was compacted (the informer re-lists it). Around
   * an outage (while one is open, or within {@link FLAP_WINDOW_MS} of its end) many watches resume
   * from revisions etcd may have compacted meanwhile: the first is warned, the rest are counted in
   * the recovery line. Outside an outage (a watch that fell behind) each is warned.
   */
  compacted(prefix: string, startRevision: number): void {
    const now = this.clock.now();
    const aroundOutage =
      this.since !== undefined ||
      (this.recoveredAt !== undefined && now - this.recoveredAt < FLAP_WINDOW_MS);
    const line = `watch on "${printableKey(prefix)}" from revision ${startRevision} was compacted; re-listing`;
    if (aroundOutage && this.compactionsLogged > 0) {
      this.logger.debug(line);
      return;
    }
    if (aroundOutage) this.compactionsLogged++;
    this.logger.warn(
      aroundOutage && this.watches > 1
        ? `${line} (other watches etcd compacted during this outage re-list too, without a line each)`
        : line,
    );
  }

  private start(loss: WatchLoss): void {
    const now = this.clock.now();
    this.since = now;
    this.reason = loss.reason;
    this.relisted = 0;
    this.caughtUp = 0;
    this.compactionsLogged = 0;
    const single = this.watches <= 1;
    const subject = single ? `watch on "${printableKey(loss.prefix)}"` : 'etcd watches';
    if (this.recoveredAt !== undefined && now - this.recoveredAt < FLAP_WINDOW_MS) {
      this.flapping = true;
      if (this.flaps === 0 && now - this.flapReportedAt >= FLAP_REPORT_MS) {
        // A flapping link: named once, then counted (one summary line a minute at most).
        this.flapReportedAt = now;
        this.flapsSince = now;
        this.logger.warn(
          `${subject} lost again ${Math.round((now - this.recoveredAt) / 1000)} s after it recovered (${loss.reason}): ` +
            `the link is unstable; serving the last known keys and resuming; further drops are counted, one line a minute`,
        );
      } else {
        if (this.flaps === 0) this.flapsSince = now;
        this.flaps++;
        this.logger.debug(`${subject} lost again (${loss.reason})`);
      }
      return;
    }
    this.flapping = false;
    this.flaps = 0;
    if (single) {
      this.logger.warn(
        `watch on "${printableKey(loss.prefix)}" lost (${loss.reason}); serving the last ${loss.keys} key(s) ` +
          `at revision ${loss.revision} and resuming from there when etcd answers`,
      );
    } else {
      this.logger.warn(
        `etcd watches lost since ${new Date().toISOString()} (${loss.reason}); ` +
          `${this.watches} watch(es) serve their last known keys and resume from their revisions when etcd answers`,
      );
    }
  }

  /** The last lost watch is back: one line for the whole outage. */
  private end(last: WatchRecovery): void {
    const since = this.since;
    if (since === undefined) return;
    const now = this.clock.now();
    this.since = undefined;
    this.recoveredAt = now;
    const seconds = ((now - since) / 1000).toFixed(1);
    const single = this.watches <= 1;
    const what = single
      ? `watch on "${printableKey(last.prefix)}" ${last.how === 'resumed' ? `resumed from revision ${last.revision}` : `re-listed at revision ${last.revision} (its revision was compacted); ${last.changes} change(s) caught up`}`
      : `etcd watches resumed (${this.watches} watch(es)${this.relisted > 0 ? `, ${this.relisted} re-listed because etcd had compacted their revision, ${this.caughtUp} change(s) caught up` : ''})`;
    if (this.flapping) {
      if (this.flaps > 0 && now - this.flapReportedAt >= FLAP_REPORT_MS) {
        this.logger.warn(
          `${single ? `watch on "${printableKey(last.prefix)}"` : 'etcd watches'} dropped ${this.flaps} more time(s) in the last ${Math.round((now - this.flapsSince) / 1000)} s ` +
            `(unstable link); every drop was caught up`,
        );
        this.flapReportedAt = now;
        this.flapsSince = now;
        this.flaps = 0;
        return;
      }
      if (this.flaps > 0) {
        this.logger.debug(`${what} after ${seconds} s`);
        return;
      }
    }
    this.logger.log(`${what} after ${seconds} s (lost: ${this.reason})`);
  }
}
