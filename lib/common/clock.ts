/**
 * Time as the library sees it: one injectable clock for every duration, deadline, timer and
 * backoff. `now()` is monotonic (it never steps with the wall clock, so an NTP correction or an
 * operator's `date -s` of an hour changes no duration); `wallNow()` is the wall clock, for
 * timestamps a person reads (ISO strings in logs and health details) and nothing else. Unit tests
 * pass a fake one (test/support/fake-clock.ts) and move it by hand.
 * @internal
 */
export interface Clock {
  /** Monotonic milliseconds (arbitrary origin): the only time to measure a duration with. */
  now(): number;
  /** Epoch milliseconds of the wall clock: for timestamps a person reads, never for durations. */
  wallNow(): number;
  /**
   * Calls `fn` once after `ms`; returns a function that cancels it. A `background` timer never
   * keeps the process alive.
   */
  setTimer(fn: () => void, ms: number, options?: { background?: boolean }): () => void;
}

/** The clock of the real world: `performance.now()` for durations, `Date.now()` for timestamps. @internal */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(fn, ms, options) {
    const timer = setTimeout(fn, ms);
    if (options?.background) timer.unref();
    return () => clearTimeout(timer);
  },
};

/**
 * A sleep that can be cut short: {@link sleep} resolves after `ms` on `clock`, or at once when
 * {@link cancel} is called (one sleep at a time; a new one cancels the previous).
 * @internal
 */
export class Sleeper {
  private cancelTimer: (() => void) | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly clock: Clock = systemClock) {}

  /** Resolves after `ms`, or earlier on {@link cancel}. */
  sleep(ms: number): Promise<void> {
    this.cancel();
    return new Promise<void>(resolve => {
      this.wake = resolve;
      this.cancelTimer = this.clock.setTimer(() => {
        this.cancelTimer = undefined;
        this.wake = undefined;
        resolve();
      }, ms);
    });
  }

  /** Ends the current sleep now (its promise resolves). */
  cancel(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** Resolves after `ms` on `clock` (a one-off wait; use a {@link Sleeper} when it must be cut short). @internal */
export function sleep(ms: number, clock: Clock = systemClock): Promise<void> {
  return new Promise<void>(resolve => clock.setTimer(resolve, ms));
}
