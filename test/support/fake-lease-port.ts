import type {
  GrantedLease,
  KeepAliveListener,
  KeepAliveStream,
  LeasePort,
} from '../../lib/lease/lease-port.js';
import { LeaseGoneError } from '../../lib/lease/lease-port.js';
import type { FakeClock } from './fake-clock.js';

/**
 * An in-memory etcd lease service for unit tests of the lease engine and the engines on it
 * (self-registration, elections, locks). Leases live until revoked or expired by the test; answers
 * come back after `latencyMs` on the fake clock (0: at once, asynchronously); `blackhole` swallows
 * every request; `failures` makes the next calls of an operation throw (FIFO).
 */
export class FakeLeasePort implements LeasePort {
  readonly calls: string[] = [];
  readonly live = new Set<string>();
  /** Errors thrown by the next calls of an operation (`grant`, `revoke`, `open`), in order. */
  readonly failures: Record<string, Error[]> = {};
  /** One-way delay of each request and answer (ms of the fake clock). */
  latencyMs = 0;
  /** Requests vanish (a partition that keeps the stream open). */
  blackhole = false;
  /** Called when a lease ends (expired or revoked): the owner deletes its keys. */
  onEnd: (lease: string) => void = () => undefined;
  /** When etcd last received a renewal of each lease (fake clock ms). */
  readonly renewedAt = new Map<string, number>();
  private nextId = 100;
  private readonly open = new Set<{ listener: KeepAliveListener; closed: boolean }>();

  constructor(private readonly clock: FakeClock) {}

  async grant(ttl: number): Promise<GrantedLease> {
    this.record('grant');
    const id = String(this.nextId++);
    this.live.add(id);
    this.renewedAt.set(id, this.clock.now());
    return { id, ttl };
  }

  keepAlive(lease: string, listener: KeepAliveListener): KeepAliveStream {
    const entry = { listener, closed: false };
    let failed: Error | undefined;
    try {
      this.record('open');
    } catch (err) {
      failed = err as Error;
    }
    if (failed) {
      const err = failed;
      void Promise.resolve().then(() => listener.broken(err));
      return { send: () => undefined, close: () => undefined };
    }
    this.open.add(entry);
    return {
      send: () => {
        if (entry.closed) return;
        this.calls.push('keepAlive');
        if (this.blackhole) return;
        this.deliver(() => {
          if (entry.closed) return;
          const alive = this.live.has(lease);
          if (alive) this.renewedAt.set(lease, this.clock.now());
          this.deliver(() => {
            if (!entry.closed) listener.answer(alive ? 10 : 0);
          });
        });
      },
      close: () => {
        entry.closed = true;
        this.open.delete(entry);
      },
    };
  }

  async revoke(lease: string): Promise<void> {
    this.record('revoke');
    this.end(lease);
  }

  describe(err: unknown): string {
    return err instanceof Error ? err.message : String(err);
  }

  /** etcd ends a lease (TTL ran out, or revoked by someone else). */
  end(lease: string): void {
    if (this.live.delete(lease)) this.onEnd(lease);
  }

  /** Breaks every open keep-alive stream (a reset connection). */
  breakStreams(err = new Error('14 UNAVAILABLE: Connection dropped')): void {
    for (const entry of [...this.open]) {
      entry.closed = true;
      this.open.delete(entry);
      entry.listener.broken(err);
    }
  }

  /** Keep-alive streams currently open. */
  get openStreams(): number {
    return this.open.size;
  }

  count(op: string): number {
    return this.calls.filter(c => c === op).length;
  }

  /** Throws a scripted error for `op`, else records it. */
  record(op: string): void {
    this.calls.push(op);
    const error = this.failures[op]?.shift();
    if (error) throw error;
  }

  /** Fails `op` as etcd does for a lease that is gone. */
  static gone(): LeaseGoneError {
    return new LeaseGoneError('etcdserver: requested lease not found');
  }

  private deliver(fn: () => void): void {
    if (this.latencyMs <= 0) void Promise.resolve().then(fn);
    else this.clock.setTimer(fn, this.latencyMs, { background: true });
  }
}
