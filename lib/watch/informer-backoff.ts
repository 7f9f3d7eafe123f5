import type { InformerClock } from './informer-port.interface.js';
import type { WatchOutages } from './watch-outages.js';

/**
 * The informer's waits between attempts, cut short by {@link wake} (the informer stops) and shortened
 * when another watch of the app comes back first.
 * @internal
 */
export class InformerBackoff {
  private wakeUp: (() => void) | undefined;

  constructor(
    private readonly clock: InformerClock,
    private readonly random: () => number,
    private readonly outages: WatchOutages,
    /** The first step of the backoff (`retry.initialDelay`). */
    private readonly initialDelay: number,
  ) {}

  /** Ends the current wait at once. */
  wake(): void {
    this.wakeUp?.();
  }

  /**
   * The backoff after a failure: `ms`, unless another watch of the app comes back first (etcd
   * answers again): then a jittered delay within the first step of the backoff, so the app's
   * watches follow the first one without all calling etcd in the same millisecond.
   * @param outageId the informer's id in the outage log (while started)
   * @param stopped whether the informer stopped meanwhile
   */
  async backOff(ms: number, outageId: number | undefined, stopped: () => boolean): Promise<void> {
    let shortened: number | undefined;
    const stopListening =
      outageId === undefined
        ? () => undefined
        : this.outages.whenAnotherRecovers(outageId, () => {
            shortened = Math.round(this.random() * this.initialDelay);
            this.wake();
          });
    try {
      await this.sleep(ms);
      if (shortened !== undefined && !stopped()) await this.sleep(shortened);
    } finally {
      stopListening();
    }
  }

  /** Waits `ms` (cut short by {@link wake}). */
  sleep(ms: number): Promise<void> {
    return new Promise<void>(resolve => {
      const done = () => {
        this.wakeUp = undefined;
        resolve();
      };
      const cancel = this.clock.setTimer(done, ms);
      this.wakeUp = () => {
        cancel();
        done();
      };
    });
  }
}
