import type {
  GrantedLease,
  KeepAliveListener,
  KeepAliveStream,
  LeasePort,
} from '../../lib/lease/lease-port.js';
import { LeaseGoneError } from '../../lib/lease/lease-port.js';
import type { FakeClock } from './fake-clock.js';

/**
 * etcd's lease table, shared by the {@link FakeLeasePort}s of several fake instances (each with
 * its own link). With `expire` on, a lease ends `ttl` seconds after etcd last received a renewal,
 * as etcd does.
 */
export class FakeLeaseStore {
  readonly live = new Set<string>();
  /** When etcd last received a renewal of each lease (fake clock ms). */
  readonly renewedAt = new Map<string, number>();
  private readonly ttls = new Map<string, number>();
  private readonly expiry = new Map<string, () => void>();
  private readonly endListeners: Array<(lease: string) => void> = [];
  private nextId = 100;

  constructor(
    private readonly clock: FakeClock,
    /** End leases whose TTL ran out (off: only `end` and revoke end a lease). */
    readonly expire = false,
  ) {}

  grant(ttl: number): string {
    const id = String(this.nextId++);
    this.live.add(id);
    this.ttls.set(id, ttl);
    this.renew(id);
    return id;
  }

  /** etcd received a renewal: the TTL starts again. False when the lease is gone. */
  renew(id: string): boolean {
    if (!this.live.has(id)) return false;
    this.renewedAt.set(id, this.clock.now());
    if (this.expire) {
      this.expiry.get(id)?.();
      this.expiry.set(
        id,
        this.clock.setTimer(() => this.end(id), (this.ttls.get(id) ?? 0) * 1000, {
          background: true,
        }),
      );
    }
    return true;
  }

  /** Calls `fn` when a lease ends (etcd deletes its keys). */
  onEnd(fn: (lease: string) => void): void {
    this.endListeners.push(fn);
  }

  /** etcd ends a lease (TTL ran out, or revoked). */
  end(id: string): void {
    this.expiry.get(id)?.();
    this.expiry.delete(id);
    if (!this.live.delete(id)) return;
    for (const listener of this.endListeners) listener(id);
  }
}

/**
 * One instance's link to a fake etcd lease service, for unit tests of the lease engine and the
 * engines on it (self-registration, elections, locks). Answers come back after `latencyMs` each way
 * on the fake clock (0: at once, asynchronously); `blackhole` swallows every request;
 * `dropAnswers` lets requests reach etcd (renewing the lease) but loses every answer; `failures`
 * makes the next calls of an operation throw (FIFO).
 */
export class FakeLeasePort implements LeasePort {
  readonly calls: string[] = [];
  /** Errors thrown by the next calls of an operation (`grant`, `revoke`, `open`), in order. */
  readonly failures: Record<string, Error[]> = {};
  /** One-way delay of each request and answer (ms of the fake clock). */
  latencyMs = 0;
  /** Requests vanish (a partition that keeps the stream open). */
  blackhole = false;
  /** Requests reach etcd, answers vanish (a one-way partition). */
  dropAnswers = false;
  readonly store: FakeLeaseStore;
  private readonly open = new Set<{ listener: KeepAliveListener; closed: boolean }>();

  constructor(
    private readonly clock: FakeClock,
    store?: FakeLeaseStore,
  ) {
    this.store = store ?? new FakeLeaseStore(clock);
  }

  /** Leases alive in etcd. */
  get live(): Set<string> {
    return this.store.live;
  }

  /** Called when a lease ends (expired or revoked): the owner deletes its keys. */
  set onEnd(fn: (lease: string) => void) {
    this.store.onEnd(fn);
  }

  async grant(ttl: number): Promise<GrantedLease> {
    this.record('grant');
    if (this.blackhole) throw new Error('14 UNAVAILABLE: deadline exceeded');
    return { id: this.store.grant(ttl), ttl };
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
          const alive = this.store.renew(lease);
          if (this.dropAnswers) return;
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
    if (this.blackhole) throw new Error('14 UNAVAILABLE: deadline exceeded');
    this.store.end(lease);
  }

  describe(err: unknown): string {
    return err instanceof Error ? err.message : String(err);
  }

  /** etcd ends a lease (TTL ran out, or revoked by someone else). */
  end(lease: string): void {
    this.store.end(lease);
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
