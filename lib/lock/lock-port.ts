import type { Observable } from 'rxjs';

/** The waiting line of one lock as this instance's watch sees it. @internal */
export interface LockQueueView {
  /** The watch has listed the prefix and follows it (else it cannot tell whose turn it is). */
  readonly synced: boolean;
  /** The etcd revision the view reflects. */
  readonly revision: number;
  /** Every key in line with its create revision (the lowest holds the lock). */
  readonly entries: ReadonlyArray<{ readonly key: string; readonly createRevision: number }>;
}

/**
 * The few etcd operations a lock needs besides its lease (which the lease engine keeps), so its
 * rules are unit-tested against a fake (test/unit/lock-engine.spec.ts) and the real adapter
 * (`etcd-lock-port.ts`) stays thin. Every call is bounded by `timeoutMs`.
 * @internal
 */
export interface LockPort {
  /** Puts `key` = `value` under `lease` (joins the line); resolves with the revision of the put. */
  enqueue(key: string, value: string, lease: string, timeoutMs: number): Promise<number>;
  /** The line under `prefix`: the current view first, then one per change. */
  queue(prefix: string): Observable<LockQueueView>;
  /** A readable, one-line reason for an error of this port. */
  describe(err: unknown): string;
}
