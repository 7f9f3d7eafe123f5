import type { Clock } from '../common/clock.js';

/**
 * The timer of a `SelfRegistration`: runs its step on the clock, one at a time (a step asked for
 * while one runs runs again right after it), and is cleared on stop.
 * @internal
 */
export class RegistrationLoop {
  private cancelTimer: (() => void) | undefined;
  private inflight: Promise<void> | undefined;
  private again = false;

  /**
   * @param step the action of the current phase
   * @param active false once stopped: nothing is scheduled any more
   */
  constructor(
    private readonly clock: Clock,
    private readonly step: () => Promise<void>,
    private readonly active: () => boolean,
  ) {}

  /** The step running now, if any (stop waits for it, bounded). */
  get running(): Promise<void> | undefined {
    return this.inflight;
  }

  /** Runs the step in `ms` (replacing a step already scheduled). */
  schedule(ms: number): void {
    if (!this.active()) return;
    this.clear();
    this.cancelTimer = this.clock.setTimer(() => {
      this.cancelTimer = undefined;
      this.kick();
    }, ms);
  }

  /** Cancels the scheduled step. */
  clear(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private kick(): void {
    if (this.inflight) {
      this.again = true;
      return;
    }
    this.inflight = this.step().finally(() => {
      this.inflight = undefined;
      if (this.again && this.active()) {
        this.again = false;
        this.schedule(0);
      }
    });
  }
}

/** The renewal period: ttl / 3 (how often a conflict is re-checked, the longest retry). @internal */
export function renewalPeriod(ttl: number): number {
  return Math.max(500, (ttl * 1000) / 3);
}

/**
 * The bound of one call: half the TTL (at least 2 s), so a slow etcd (a busy disk delays every
 * write) does not turn a merely slow registration into a failed one.
 * @internal
 */
export function registrationCallTimeout(ttl: number): number {
  return Math.max(2000, (ttl * 1000) / 2);
}
