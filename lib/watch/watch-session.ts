import type { Logger } from '@nestjs/common';
import { classifyWatchCancel } from '../client/etcd-errors.classifier.js';
import { describeCause } from '../common/describe-cause.js';
import type {
  InformerClock,
  InformerPort,
  WatchEvent,
  WatchHandle,
} from './informer-port.interface.js';
import { StallDetector } from './stall-detector.js';

/**
 * Why a watch ended: `broken` and `canceled` lead to a resume (after a backoff), `compacted` and
 * `stalled` to a re-list, `stopped` to nothing. @internal
 */
export type WatchEndReason = 'stopped' | 'broken' | 'canceled' | 'compacted' | 'stalled';

/** How one watch ended. @internal */
export interface WatchEnd {
  readonly reason: WatchEndReason;
  /** etcd acknowledged the watch (created response). */
  readonly acknowledged: boolean;
  /** At least one event changed the map. */
  readonly delivered: boolean;
  /** What broke or canceled it. */
  readonly error?: unknown;
  /** The revision it watched from. */
  readonly startRevision: number;
}

/** What a watch session feeds and asks. @internal */
export interface WatchSessionSink {
  /** etcd acknowledged the watch (its created response). */
  acknowledged(): void;
  /** Applies one response's events in order; true when any of them changed the map. */
  apply(events: readonly WatchEvent[], startRevision: number): boolean;
  /** Whether etcd agrees with the map (asked after a silence); rejects when etcd does not answer. */
  consistent(): Promise<boolean>;
  /** The revision applied so far (for log lines). */
  currentRevision(): number;
}

/**
 * One watch of a prefix from one revision, until it breaks, is canceled, stalls or is stopped.
 * Events go to the sink in order; a {@link StallDetector} watches its silence.
 * @internal
 */
export class WatchSession {
  /** Resolves once, with how the watch ended. */
  readonly ended: Promise<WatchEnd>;
  private resolveEnded!: (end: WatchEnd) => void;
  private acknowledged = false;
  private delivered = false;
  private done = false;
  private handle: WatchHandle | undefined;
  private readonly stall: StallDetector;

  constructor(
    port: InformerPort,
    private readonly prefix: string,
    private readonly startRevision: number,
    private readonly sink: WatchSessionSink,
    private readonly timing: { clock: InformerClock; stallTimeout: number; logger: Logger },
  ) {
    this.ended = new Promise<WatchEnd>(resolve => (this.resolveEnded = resolve));
    this.stall = new StallDetector(
      timing.clock,
      timing.stallTimeout,
      () => this.onSilence(),
      () => this.finish('stalled', true),
    );
    const handle = port.watch(prefix, startRevision, {
      acknowledged: () => {
        this.stall.activity();
        this.acknowledged = true;
        if (!this.done) this.sink.acknowledged();
      },
      events: events => {
        // Events and progress notifications alike prove the stream alive.
        this.stall.activity();
        if (this.done) return;
        if (this.sink.apply(events, startRevision)) this.delivered = true;
      },
      broken: err => this.finish('broken', true, err),
      canceled: err => {
        // The informer logs a compaction (once per outage, not once per watch).
        if (classifyWatchCancel(err) === 'compacted') {
          this.finish('compacted', true);
        } else {
          this.finish('canceled', true, err);
        }
      },
    });
    // A port may report synchronously, before returning its handle.
    if (this.done) handle.close({ cancel: true });
    else this.handle = handle;
  }

  /** Ends the watch (cancelling it in etcd). */
  stop(): void {
    this.finish('stopped', true);
  }

  /** After a silence: keep a watch etcd vouches for; give up on one it never acknowledged. */
  private async onSilence(): Promise<boolean> {
    const message = `watch on "${this.prefix}" silent for over ${this.timing.stallTimeout} ms`;
    const { logger } = this.timing;
    if (!this.acknowledged) {
      logger.warn(`${message} and never acknowledged; rebuilding the stream`);
      return false;
    }
    // A quiet prefix is silent too (etcd's progress notifications are minutes apart). Rather than
    // re-list everything, ask etcd whether anything changed that the watch did not deliver.
    let consistent: boolean;
    try {
      consistent = await this.sink.consistent();
    } catch (err) {
      if (!this.done)
        logger.debug(`${message}; probe failed (${describeCause(err)}); rebuilding it`);
      return false;
    }
    if (this.done) return false;
    if (consistent) {
      logger.debug(
        `${message}; etcd agrees with revision ${this.sink.currentRevision()}, keeping it`,
      );
    } else {
      logger.warn(`${message} but etcd has changes it did not deliver; rebuilding it`);
    }
    return consistent;
  }

  private finish(reason: WatchEndReason, cancel: boolean, error?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.stall.stop();
    this.handle?.close({ cancel });
    this.resolveEnded({
      reason,
      acknowledged: this.acknowledged,
      delivered: this.delivered,
      error,
      startRevision: this.startRevision,
    });
  }
}
