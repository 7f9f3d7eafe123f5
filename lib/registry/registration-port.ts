import type { Observable } from 'rxjs';

/**
 * What the registration's own-key watch reports: a put or a delete of the key, or `resync` when the
 * watch was re-established (it may have missed a change meanwhile: the registration reads the key).
 * @internal
 */
export type OwnKeyEvent =
  | {
      readonly type: 'put';
      /** Lease id of the new value (`'0'`: no lease). */
      readonly lease: string;
      readonly value: string;
      /** etcd revision of the change, when known. */
      readonly revision?: number;
    }
  | { readonly type: 'delete'; readonly revision?: number }
  | { readonly type: 'resync' };

/** What etcd currently holds under the registration key. @internal */
export interface KeyHolder {
  readonly value: string;
  /** Lease id (`'0'`: no lease). */
  readonly lease: string;
}

/**
 * The few key operations a {@link SelfRegistration} needs besides its lease (which the lease
 * engine keeps), so its logic is unit-tested against a fake and the real adapter
 * (`etcd-registration-port.ts`) stays thin. Every call is bounded by `timeoutMs`.
 * @internal
 */
export interface RegistrationPort {
  /**
   * Puts the key under the lease; resolves with the revision of the put. Rejects with
   * `LeaseGoneError` when etcd says the lease does not exist.
   */
  put(key: string, value: string, lease: string, timeoutMs: number): Promise<number>;
  get(key: string, timeoutMs: number): Promise<KeyHolder | undefined>;
  /**
   * Changes of `key` alone (a single-key watch: O(1) per instance, whatever the size of the
   * service); unsubscribing releases the watch.
   */
  watch(key: string): Observable<OwnKeyEvent>;
  /** A readable, one-line reason for an error of this port. */
  describe(err: unknown): string;
}
