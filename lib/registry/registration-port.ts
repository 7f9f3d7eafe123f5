import type { Observable } from 'rxjs';

/** What the registration's own-key watch reports. @internal */
export interface OwnKeyEvent {
  readonly type: 'put' | 'delete';
  /** Lease id of the new value (`'0'`: no lease), for a put. */
  readonly lease?: string;
  /** The new value, for a put. */
  readonly value?: string;
  /** etcd revision of the change, when known. */
  readonly revision?: number;
}

/** What etcd currently holds under the registration key. @internal */
export interface KeyHolder {
  readonly value: string;
  /** Lease id (`'0'`: no lease). */
  readonly lease: string;
}

/** Thrown by a {@link RegistrationPort} when etcd says the lease does not exist (any more). @internal */
export class LeaseGoneError extends Error {}

/**
 * The few etcd operations a {@link SelfRegistration} needs, so its logic is unit-tested against a
 * fake and the real adapter (`etcd-registration-port.ts`) stays thin. Every call is bounded by
 * `timeoutMs`.
 * @internal
 */
export interface RegistrationPort {
  /** Grants a lease of `ttl` seconds; resolves with its id (decimal string). */
  grant(ttl: number, timeoutMs: number): Promise<string>;
  /** One heartbeat; resolves with the remaining TTL (≤ 0: gone). Rejects with {@link LeaseGoneError}. */
  keepAlive(lease: string, timeoutMs: number): Promise<number>;
  /** Puts the key under the lease; resolves with the revision of the put. */
  put(key: string, value: string, lease: string, timeoutMs: number): Promise<number>;
  get(key: string, timeoutMs: number): Promise<KeyHolder | undefined>;
  /** Revokes the lease (deleting its keys); a lease already gone is not an error. */
  revoke(lease: string, timeoutMs: number): Promise<void>;
  /** Changes of `key` seen by a watch; unsubscribing releases the watch. */
  watch(key: string): Observable<OwnKeyEvent>;
  /** A readable, one-line reason for an error of this port. */
  describe(err: unknown): string;
}

/** Time and timers, injectable so tests never wait for real seconds. @internal */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock. @internal */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: handle => clearTimeout(handle as NodeJS.Timeout),
};
