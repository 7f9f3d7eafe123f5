/**
 * The narrow port the lease engine stands on: grant, one keep-alive stream per lease, revoke. The
 * real one adapts etcd3's lease client (`etcd-lease-port.ts`); unit tests use a fake
 * (test/support/fake-lease-port.ts).
 * @internal
 */
export interface LeasePort {
  /** Grants a lease of `ttl` seconds; resolves with its id (decimal string) and granted TTL. */
  grant(ttl: number, timeoutMs: number): Promise<GrantedLease>;
  /**
   * Opens one keep-alive stream for `lease` (as etcd3's own `lease.keepalive()` does): each
   * {@link KeepAliveStream.send} writes one request on it; etcd answers each in order. The listener
   * hears every answer until the stream breaks or is closed.
   */
  keepAlive(lease: string, listener: KeepAliveListener): KeepAliveStream;
  /** Revokes the lease (etcd deletes its keys); a lease already gone is not an error. */
  revoke(lease: string, timeoutMs: number): Promise<void>;
  /** A readable, one-line reason for an error of this port. */
  describe(err: unknown): string;
}

/** @internal */
export interface GrantedLease {
  readonly id: string;
  /** Seconds etcd granted. */
  readonly ttl: number;
}

/** What a keep-alive stream reports. After `broken` nothing more is called. @internal */
export interface KeepAliveListener {
  /** etcd's answer to one request: the remaining TTL in seconds (≤ 0: the lease is gone). */
  answer(ttl: number): void;
  /** The stream failed or ended (connection lost, reset, etcd restarted). */
  broken(err: unknown): void;
}

/** One open keep-alive stream. @internal */
export interface KeepAliveStream {
  /** Writes one keep-alive request (buffered until the stream is open). */
  send(): void;
  /** Ends the stream; its listener hears nothing more. */
  close(): void;
}

/** Thrown (or reported) when etcd says a lease does not exist (any more). @internal */
export class LeaseGoneError extends Error {
  override readonly name = 'LeaseGoneError';
}
