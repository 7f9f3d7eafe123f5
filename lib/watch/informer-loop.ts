import type { Logger } from '@nestjs/common';
import { spreadBackoffDelay } from '../common/backoff.js';
import { describeCause } from '../common/describe-cause.js';
import { EtcdAuthTokenExpiredError } from '../errors/etcd-auth-token-expired.error.js';
import { InformerBackoff } from './informer-backoff.js';
import type { InformerClock, InformerPort } from './informer-port.interface.js';
import { FLAP_WINDOW_MS, type WatchOutages } from './watch-outages.js';
import { WatchSession, type WatchEnd, type WatchSessionSink } from './watch-session.js';

/**
 * A watch that stayed acknowledged this long (ms) was healthy: the next failure backs off from the
 * first step again (client-go resets its reflector's backoff after a healthy period too). Shorter
 * lives keep climbing, so a flapping link is not hammered.
 */
const BACKOFF_RESET_MS = FLAP_WINDOW_MS;

/**
 * What the recovery loop drives: one informer's list, its map (each watch's events go there) and
 * its bookkeeping.
 * @internal
 */
export interface InformerLoopHost extends Omit<WatchSessionSink, 'currentRevision' | 'consistent'> {
  /** The watched prefix. */
  readonly prefix: string;
  /** True once the informer stopped: the loop ends. */
  isStopped(): boolean;
  /** Lists the prefix at one revision and applies the diff; resolves with the list revision. */
  list(): Promise<number>;
  /** The revision of the last event applied (a resume starts after it). */
  appliedRevision(): number;
  /** Number of keys in the map (a stall probe compares it with etcd's count). */
  keyCount(): number;
  /** A list failed (or a watch could not start) with `err`. */
  listFailed(err: unknown): void;
  /**
   * A watch broke or was canceled with `error` (`reason`: one line); `routine` when it is the
   * transport renewing an expired auth token (not an outage).
   */
  interrupted(error: unknown, reason: string, routine: boolean): void;
  /** A watch etcd never acknowledged stalled: the shared watch stream is dead, rebuild it. */
  rebuildStream(): void;
}

/** Options of an {@link InformerLoop}. @internal */
export interface InformerLoopOptions {
  readonly clock: InformerClock;
  /** Jitter source of the backoff, in [0, 1). */
  readonly random: () => number;
  /** The app's outage log (compactions, "another watch is back"). */
  readonly outages: WatchOutages;
  readonly retry: { initialDelay: number; maxDelay: number };
  /** The port each watch session runs on. */
  readonly port: InformerPort;
  /** Silence (ms) after which a watch is treated as broken. */
  readonly stallTimeout: number;
  readonly logger: Logger;
}

/**
 * The recovery loop of one informer ({@link InformerLoopHost}: the map), until it stops:
 *
 * 1. **List** the prefix (paginated, all pages at one revision R).
 * 2. **Watch** from R + 1 and apply each event in order.
 * 3. After a stream error or a cancellation: **resume**, a new watch from the revision of the last
 *    event applied + 1 (etcd replays what was missed, in order), after a jittered backoff
 *    (client-go's reflector: the base doubles from `retry.initialDelay` to `retry.maxDelay`, jitter
 *    factor 1.0). The etcd3 client's own resume bookmark is never trusted: it can skip events across
 *    a second disconnect; the informer's revision is what it applied itself.
 * 4. When etcd answers that the revision was **compacted**, or a stall probe shows the watch missed
 *    changes: **re-list, diff** against the map (emitting only real differences) and watch again
 *    from the new list revision + 1.
 * @internal
 */
export class InformerLoop {
  /** When the current watch was acknowledged (clock ms). */
  private acknowledgedAt: number | undefined;
  private readonly backoff: InformerBackoff;
  private session: WatchSession | undefined;

  constructor(
    private readonly host: InformerLoopHost,
    private readonly options: InformerLoopOptions,
  ) {
    this.backoff = new InformerBackoff(
      options.clock,
      options.random,
      options.outages,
      options.retry.initialDelay,
    );
  }

  /** The informer stops: the current wait ends at once, the current watch is stopped. */
  stop(): void {
    this.backoff.wake();
    this.session?.stop();
  }

  /**
   * Runs until the host stops.
   * @param outageId the informer's id in the outage log
   */
  async run(outageId: number | undefined): Promise<void> {
    const { host, options } = this;
    // Backoff attempt of failures (list errors, broken or canceled watches).
    let attempt = 0;
    // Compaction cancels in a row that delivered nothing: the first is answered at once, repeats back off.
    let quickCancels = 0;
    // A list is needed first, and again only when a resume is impossible (compacted, missed changes).
    let needList = true;
    while (!host.isStopped()) {
      let end: WatchEnd | undefined;
      try {
        if (needList) {
          const listRevision = await host.list();
          needList = false;
          if (host.isStopped()) break;
          end = await this.watchFrom(listRevision + 1);
        } else {
          // Resume: etcd replays every event after the last one applied.
          end = await this.watchFrom(host.appliedRevision() + 1);
        }
      } catch (err) {
        if (host.isStopped()) break;
        host.listFailed(err);
      }
      if (host.isStopped() || end?.reason === 'stopped') break;
      if (
        end?.acknowledged &&
        this.acknowledgedAt !== undefined &&
        options.clock.now() - this.acknowledgedAt >= BACKOFF_RESET_MS
      ) {
        attempt = 0;
      }
      this.acknowledgedAt = undefined;
      if (end?.reason === 'broken' || end?.reason === 'canceled') {
        const what = end.reason === 'broken' ? 'watch stream broke' : 'watch canceled';
        // Transport hook: etcd's auth token expired and the transport reopens the stream with a
        // new one. Routine, not an outage: resume without a warning, and without a backoff.
        const routine = end.error instanceof EtcdAuthTokenExpiredError;
        host.interrupted(end.error, `${what}: ${describeCause(end.error)}`, routine);
        if (routine) continue;
      }
      if (end?.reason === 'stalled') {
        // A watch etcd never acknowledged means the shared stream itself is dead: rebuild it.
        if (!end.acknowledged) host.rebuildStream();
        // The probe showed changes the watch did not deliver (or could not ask): re-list.
        needList = true;
        continue;
      }
      if (end?.reason === 'compacted') {
        options.outages.compacted(host.prefix, end.startRevision);
        needList = true;
        quickCancels = end.delivered ? 0 : quickCancels + 1;
        if (quickCancels <= 1) continue;
        await this.backoff.sleep(
          spreadBackoffDelay(quickCancels - 2, options.retry, options.random),
        );
        continue;
      }
      quickCancels = 0;
      await this.backoff.backOff(
        spreadBackoffDelay(attempt++, options.retry, options.random),
        outageId,
        () => host.isStopped(),
      );
    }
  }

  /** Watches from `startRevision` until the watch ends. */
  private watchFrom(startRevision: number): Promise<WatchEnd> {
    const { host, options } = this;
    const session = new WatchSession(
      options.port,
      host.prefix,
      startRevision,
      {
        acknowledged: () => {
          // A watch acknowledged long enough resets the backoff (see BACKOFF_RESET_MS).
          this.acknowledgedAt = options.clock.now();
          host.acknowledged();
        },
        apply: (events, start) => host.apply(events, start),
        consistent: () => this.consistent(),
        currentRevision: () => host.appliedRevision(),
      },
      { clock: options.clock, stallTimeout: options.stallTimeout, logger: options.logger },
    );
    this.session = session;
    return session.ended.finally(() => {
      if (this.session === session) this.session = undefined;
    });
  }

  /**
   * True when etcd's keys under the prefix match the map: the same number of keys, and none
   * modified after the informer's revision. A missed put (new or updated key) shows as a newer key,
   * a missed delete as a smaller count.
   */
  private async consistent(): Promise<boolean> {
    const { host, options } = this;
    const probe = await options.port.probe(
      host.prefix,
      host.appliedRevision(),
      requestTimeout(options.stallTimeout),
    );
    return probe.count === host.keyCount() && probe.newer === 0;
  }
}

/** Deadline of a list page or a probe: the stall bound, within 1 s to 10 s. @internal */
export function requestTimeout(stallTimeout: number): number {
  return Math.min(10_000, Math.max(1_000, stallTimeout));
}
