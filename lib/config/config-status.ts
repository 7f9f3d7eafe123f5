/**
 * The config status an instance reports at `<reportPrefix><serviceName>/<instanceId>` (docs/cli.md):
 * what it serves, per key, and what it refused. Pure: the shapes, and the timing rule that keeps the
 * writes few (coalescing on an injectable clock).
 */

/** One key of a {@link ConfigStatus}. */
export interface ConfigKeyStatus {
  /** The mod revision of the value served (0: the key has no value in etcd; its default is served). */
  revision: number;
  /** The etcd key that supplies it (inside the namespace), e.g. `/config/@canary/db.yaml`. */
  source: string;
  /** `rejected`: a newer revision ({@link rejectedRevision}) was refused; {@link revision} is served. */
  state: 'applied' | 'rejected';
  /** Why the newer revision was refused (one line). */
  reason?: string;
  /** The revision refused. */
  rejectedRevision?: number;
  /** Hash of the JSON Schema the key is validated with, published at `/config-schemas/<hash>`. */
  schema?: string;
}

/** The JSON an instance keeps at `/config-status/<serviceName>/<instanceId>`. */
export interface ConfigStatus {
  serviceName: string;
  instanceId: string;
  /** Its config prefix, e.g. `/config/`. */
  prefix: string;
  /** Its shared prefixes, lowest first. */
  shared: string[];
  /** Its active profiles, lowest first. */
  profiles: string[];
  /** The etcd revision it has applied config up to (every change up to it was applied or refused). */
  revision: number;
  /** Per config key (relative to its layer): every key it serves or declares. */
  keys: Record<string, ConfigKeyStatus>;
}

/** The timers a {@link StatusCoalescer} runs on (a Clock). @internal */
export interface CoalescerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real timers (unref'd: a pending status write never keeps the process alive). @internal */
export const coalescerSystemClock: CoalescerClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: handle => clearTimeout(handle as NodeJS.Timeout),
};

/** Timing of a {@link StatusCoalescer}. @internal */
export interface CoalescerTiming {
  /** Quiet time after the last change before a write (trailing debounce), ms. */
  readonly debounceMs: number;
  /** Longest a change waits for its write during a steady stream of changes, ms. */
  readonly maxWaitMs: number;
}

/**
 * Turns a stream of "something changed" marks into few flushes: a flush runs `debounceMs` after the
 * last mark of a burst, and never more than `maxWaitMs` after the first one. A mark costs a counter
 * increment (and one timer for the first mark of a burst): nothing on a change's path waits. A flush
 * that is still running when marks come is followed by another once it ends.
 * @internal
 */
export class StatusCoalescer {
  private marks = 0;
  private timer: unknown;
  /** When the first mark of the pending burst came. */
  private since = 0;
  /** Marks seen when the timer was last armed (a later mark means the burst goes on). */
  private armedAt = 0;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly timing: CoalescerTiming,
    private readonly flush: () => Promise<void>,
    private readonly clock: CoalescerClock = coalescerSystemClock,
  ) {}

  /** Something changed: a flush will follow. */
  mark(): void {
    this.marks++;
    if (this.timer !== undefined || this.running || this.stopped) return;
    this.since = this.clock.now();
    this.arm(this.timing.debounceMs);
  }

  /** Whether a flush is scheduled or running. */
  get pending(): boolean {
    return this.timer !== undefined || this.running !== undefined;
  }

  /** Cancels the pending flush; later marks are ignored. Resolves when a running flush ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private arm(ms: number): void {
    this.armedAt = this.marks;
    this.timer = this.clock.setTimeout(() => this.fire(), ms);
  }

  private fire(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const waited = this.clock.now() - this.since;
    if (this.marks !== this.armedAt && waited < this.timing.maxWaitMs) {
      // Still changing: wait for a quiet period, but not past the max wait.
      this.arm(Math.min(this.timing.debounceMs, this.timing.maxWaitMs - waited));
      return;
    }
    const seen = this.marks;
    this.running = this.flush()
      .catch(() => undefined)
      .finally(() => {
        this.running = undefined;
        if (this.marks !== seen && !this.stopped) {
          this.since = this.clock.now();
          this.arm(this.timing.debounceMs);
        }
      });
  }
}
