import type { InformerClock } from './informer-port.interface.js';

/**
 * Notices a watch that has been silent (no event, no progress notification, no acknowledgement)
 * for longer than `stallTimeout`. Silence alone proves nothing (a quiet prefix is silent too), so
 * it asks `check` what to do: `true` keeps the watch (and starts a new silence period), `false`
 * declares it stalled and calls `onStalled` once. One timer, re-armed only when it fires.
 * @internal
 */
export class StallDetector {
  private lastActivity: number;
  private cancelTimer: (() => void) | undefined;
  private checking = false;
  private stopped = false;

  constructor(
    private readonly clock: InformerClock,
    private readonly stallTimeout: number,
    private readonly check: () => Promise<boolean>,
    private readonly onStalled: () => void,
  ) {
    this.lastActivity = clock.now();
    this.arm(stallTimeout);
  }

  /** The watch showed a sign of life. */
  activity(): void {
    this.lastActivity = this.clock.now();
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private arm(ms: number): void {
    if (this.stopped) return;
    // A few ms past the bound, so a timer that fires exactly on time sees the silence as over it.
    this.cancelTimer = this.clock.setTimer(() => this.fire(), Math.max(1, ms) + 1, {
      background: true,
    });
  }

  private fire(): void {
    this.cancelTimer = undefined;
    if (this.stopped || this.checking) return;
    const silent = this.clock.now() - this.lastActivity;
    if (silent <= this.stallTimeout) {
      this.arm(this.stallTimeout - silent);
      return;
    }
    this.checking = true;
    const settle = (keep: boolean) => {
      this.checking = false;
      if (this.stopped) return;
      if (keep) {
        this.activity();
        this.arm(this.stallTimeout);
      } else {
        this.stop();
        this.onStalled();
      }
    };
    this.check().then(settle, () => settle(false));
  }
}
