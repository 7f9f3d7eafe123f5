import { Subject, type Observable } from 'rxjs';
import {
  LeaseGoneError,
  type Clock,
  type KeyHolder,
  type OwnKeyEvent,
  type RegistrationPort,
} from '../../lib/registry/registration-port.js';
import { EtcdStoppedError } from '../../lib/errors/etcd-stopped.error.js';
import { SelfRegistration, type RegistrationLogger } from '../../lib/registry/self-registration.js';
import type { ServiceInstance } from '../../lib/discovery/service-instance.interface.js';
import type { RegistryStatus } from '../../lib/registry/registry-status.interface.js';

/** A manual clock: timers run only when the test advances time. */
class FakeClock implements Clock {
  private time = 1_000_000;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.time + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  /** Moves time without running timers: an event loop that was blocked. */
  jump(ms: number): void {
    this.time += ms;
  }
  /** Runs every timer due within `ms`, in order, letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await flush();
      const next = [...this.timers.entries()].sort((a, b) => a[1].at - b[1].at)[0];
      if (!next || next[1].at > end) break;
      this.timers.delete(next[0]);
      this.time = Math.max(this.time, next[1].at);
      next[1].fn();
    }
    this.time = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>(resolve => setImmediate(resolve));
}

/** An in-memory etcd for one registration: keys, leases, a watch, scripted failures. */
class FakePort implements RegistrationPort {
  readonly calls: string[] = [];
  readonly keys = new Map<string, KeyHolder>();
  readonly events = new Subject<OwnKeyEvent>();
  readonly liveLeases = new Set<string>();
  /** Errors thrown by the next calls of an operation (FIFO). */
  readonly failures: Record<string, Error[]> = {};
  private nextLease = 100;
  private revision = 1;

  async grant(): Promise<string> {
    this.record('grant');
    const lease = String(this.nextLease++);
    this.liveLeases.add(lease);
    return lease;
  }
  async keepAlive(lease: string): Promise<number> {
    this.record('keepAlive');
    if (!this.liveLeases.has(lease))
      throw new LeaseGoneError('etcdserver: requested lease not found');
    return 10;
  }
  async put(key: string, value: string, lease: string): Promise<number> {
    this.record('put');
    if (!this.liveLeases.has(lease))
      throw new LeaseGoneError('etcdserver: requested lease not found');
    this.keys.set(key, { value, lease });
    return ++this.revision;
  }
  async get(key: string): Promise<KeyHolder | undefined> {
    this.record('get');
    return this.keys.get(key);
  }
  async revoke(lease: string): Promise<void> {
    this.record('revoke');
    this.expire(lease);
  }
  watch(): Observable<OwnKeyEvent> {
    return this.events.asObservable();
  }
  describe(err: unknown): string {
    return err instanceof Error ? err.message : String(err);
  }

  /** etcd ends a lease: its keys are deleted and the watch reports it. */
  expire(lease: string): void {
    this.liveLeases.delete(lease);
    for (const [key, holder] of this.keys) {
      if (holder.lease === lease) {
        this.keys.delete(key);
        this.events.next({ type: 'delete', revision: ++this.revision });
      }
    }
  }
  outsideDelete(key: string): void {
    this.keys.delete(key);
    this.events.next({ type: 'delete', revision: ++this.revision });
  }
  outsidePut(key: string, holder: KeyHolder): void {
    this.keys.set(key, holder);
    this.events.next({ type: 'put', ...holder, revision: ++this.revision });
  }
  count(op: string): number {
    return this.calls.filter(c => c === op).length;
  }

  private record(op: string): void {
    this.calls.push(op);
    const error = this.failures[op]?.shift();
    if (error) throw error;
  }
}

class RecordingLogger implements RegistrationLogger {
  readonly lines: string[] = [];
  debug(message: string): void {
    this.lines.push(`debug ${message}`);
  }
  log(message: string): void {
    this.lines.push(`log ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn ${message}`);
  }
  error(message: string): void {
    this.lines.push(`error ${message}`);
  }
  matching(pattern: RegExp): string[] {
    return this.lines.filter(line => pattern.test(line));
  }
}

const KEY = '/services/orders/web-1';
const TTL = 9; // heartbeat every 3 s
const INSTANCE: ServiceInstance = {
  serviceName: 'orders',
  instanceId: 'web-1',
  host: '127.0.0.1',
  port: 3000,
  metadata: {},
  weight: 1,
};

function setup() {
  const clock = new FakeClock();
  const port = new FakePort();
  const logger = new RecordingLogger();
  const registration = new SelfRegistration(port, {
    ttl: TTL,
    retry: { initialDelay: 100, maxDelay: 1_000 },
    logger,
    initialStatus: 'registering',
    clock,
    random: () => 1 - Number.EPSILON, // the top of the jitter range: delays are exact
  });
  const statuses: RegistryStatus[] = [];
  registration.status$.subscribe(status => statuses.push(status));
  return { clock, port, logger, registration, statuses };
}

async function registered() {
  const ctx = setup();
  const done = ctx.registration.start(INSTANCE, KEY, '{"host":"127.0.0.1","port":3000}');
  await ctx.clock.advance(0);
  await expect(done).resolves.toBe(INSTANCE);
  return ctx;
}

describe('SelfRegistration (fake etcd port, manual clock)', () => {
  it('grants, checks the key is free, puts, then heartbeats every ttl / 3', async () => {
    const { clock, port, registration, statuses, logger } = setup();
    const done = registration.start(INSTANCE, KEY, 'v');
    // Before etcd confirmed the key: no self.
    expect(registration.self).toBeUndefined();
    expect(registration.status).toBe('registering');
    await clock.advance(0);
    await expect(done).resolves.toBe(INSTANCE);
    expect(port.calls).toEqual(['grant', 'get', 'put']);
    expect(port.keys.get(KEY)).toEqual({ value: 'v', lease: '100' });
    expect(registration.self).toBe(INSTANCE);
    expect(
      logger.matching(/registered \/services\/orders\/web-1 \(lease 100, ttl 9s\)/),
    ).toHaveLength(1);

    await clock.advance(2_999);
    expect(port.count('keepAlive')).toBe(0);
    await clock.advance(1);
    expect(port.count('keepAlive')).toBe(1);
    await clock.advance(3_000 * 4);
    expect(port.count('keepAlive')).toBe(5);
    expect(port.count('put')).toBe(1);
    expect(statuses).toEqual(['registering', 'registered']);
  });

  it('heals failed heartbeats with backoff: one warning, lost after the TTL, registered again', async () => {
    const { clock, port, logger, statuses } = await registered();
    const unavailable = () => new Error('14 UNAVAILABLE: No connection established');
    port.failures.keepAlive = Array.from({ length: 50 }, unavailable);

    await clock.advance(3_000); // first heartbeat fails
    expect(port.count('keepAlive')).toBe(1);
    // Retries back off: 200, 400, 800, 1000, 1000 ... ms (attempt n: min(100 * 2^n, 1000)).
    await clock.advance(199);
    expect(port.count('keepAlive')).toBe(1);
    await clock.advance(1);
    expect(port.count('keepAlive')).toBe(2);
    await clock.advance(400);
    expect(port.count('keepAlive')).toBe(3);
    await clock.advance(800);
    expect(port.count('keepAlive')).toBe(4);
    await clock.advance(1_000);
    expect(port.count('keepAlive')).toBe(5);
    expect(statuses.at(-1)).toBe('registered');

    await clock.advance(TTL * 1000); // no heartbeat for longer than the TTL
    expect(statuses.at(-1)).toBe('lost');
    port.failures.keepAlive = [];
    await clock.advance(1_000);
    expect(statuses).toEqual(['registering', 'registered', 'lost', 'registered']);
    // One line for the first failure, one for the loss: never one per retry.
    expect(logger.matching(/^warn/)).toEqual([
      expect.stringMatching(/heartbeat of \/services\/orders\/web-1 failed \(14 UNAVAILABLE/),
      expect.stringMatching(
        /registration \/services\/orders\/web-1 lost: no heartbeat for over 9s/,
      ),
    ]);
    expect(port.count('put')).toBe(1); // the lease survived: no re-put
  });

  it('lease lost (revoked or expired): a new lease and the key put again', async () => {
    const { clock, port, logger, statuses } = await registered();
    // Revoked (its key with it) without our watch noticing yet.
    port.liveLeases.delete('100');
    port.keys.delete(KEY);
    await clock.advance(3_000);
    expect(statuses.at(-1)).toBe('lost');
    expect(
      logger.matching(/lost: lease 100 expired or was revoked; granting a new one/),
    ).toHaveLength(1);
    await clock.advance(200); // backoff of the first attempt
    expect(port.keys.get(KEY)?.lease).toBe('101');
    expect(statuses).toEqual(['registering', 'registered', 'lost', 'registered']);
  });

  it('key deleted from outside: put back on the same lease, named as such', async () => {
    const { clock, port, logger, statuses } = await registered();
    port.outsideDelete(KEY);
    await clock.advance(0);
    expect(port.keys.get(KEY)).toEqual({ value: expect.any(String), lease: '100' });
    expect(logger.matching(/was deleted from outside; putting it back/)).toHaveLength(1);
    expect(statuses).toEqual(['registering', 'registered', 'lost', 'registered']);
  });

  it('after the event loop was blocked past the TTL, the log says the lease expired (not "deleted from outside")', async () => {
    const { clock, port, logger, statuses } = await registered();
    clock.jump(15_000); // blocked: no timer ran, etcd expired the lease meanwhile
    port.expire('100');
    await clock.advance(0);
    const lost = logger.matching(/lost:/);
    expect(lost).toEqual([
      expect.stringMatching(
        /lease 100 expired: no heartbeat reached etcd for 15\.0s, longer than the 9s TTL \(was the event loop blocked/,
      ),
    ]);
    expect(logger.matching(/deleted from outside/)).toEqual([]);
    await clock.advance(200);
    expect(port.keys.get(KEY)?.lease).toBe('101');
    expect(statuses).toEqual(['registering', 'registered', 'lost', 'registered']);
  });

  it('the key already held by another lease at start: one error line, no put, waits, takes it when freed', async () => {
    const { clock, port, logger, registration, statuses } = setup();
    port.keys.set(KEY, { value: '{"host":"10.0.0.2","port":3000}', lease: '7' });
    const done = registration.start(INSTANCE, KEY, 'mine');
    const outcome = registration.outcome();
    await clock.advance(0);
    await expect(outcome).resolves.toBe('conflict');
    expect(port.count('put')).toBe(0);
    expect(registration.self).toBeUndefined();
    await clock.advance(30_000); // keeps heart-beating its own lease, never puts
    expect(port.count('put')).toBe(0);
    expect(port.keys.get(KEY)?.lease).toBe('7');
    const errors = logger.matching(/^error/);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /registration key \/services\/orders\/web-1 is held by another writer \(lease 7, value \{"host":"10.0.0.2","port":3000\}\).*same serviceName and instanceId/,
    );

    port.outsideDelete(KEY); // the other process stopped
    await clock.advance(0);
    await expect(done).resolves.toBe(INSTANCE);
    expect(port.keys.get(KEY)).toEqual({ value: 'mine', lease: '100' });
    expect(statuses).toEqual(['registering', 'registered']);
  });

  it('another process overwrites the key while registered: lost, one error line, no put-fight', async () => {
    const { clock, port, logger, registration, statuses } = await registered();
    port.outsidePut(KEY, { value: 'theirs', lease: '55' });
    await clock.advance(0);
    expect(statuses.at(-1)).toBe('lost');
    await clock.advance(30_000);
    expect(port.keys.get(KEY)).toEqual({ value: 'theirs', lease: '55' });
    expect(port.count('put')).toBe(1);
    expect(logger.matching(/^error .*held by another writer \(lease 55/)).toHaveLength(1);
    expect(registration.self).toBe(INSTANCE); // still serving; the address is ours
    // The echo of our own put is never taken for another writer.
    port.events.next({ type: 'put', lease: '100', value: 'v', revision: 1 });
    expect(logger.matching(/^error/)).toHaveLength(1);
  });

  it('stop revokes the lease (deleting the key), clears every timer and reports deregistered', async () => {
    const { clock, port, registration, statuses } = await registered();
    await registration.stop(true, 3_000);
    expect(port.count('revoke')).toBe(1);
    expect(port.keys.has(KEY)).toBe(false);
    expect(clock.pending).toBe(0);
    expect(registration.self).toBeUndefined();
    expect(statuses).toEqual(['registering', 'registered', 'deregistered']);
    // The watch is released: a later event changes nothing.
    port.outsideDelete(KEY);
    await clock.advance(10_000);
    expect(port.count('put')).toBe(1);
  });

  it('stopped before etcd confirmed: the start promise rejects with EtcdStoppedError', async () => {
    const { clock, port, registration } = setup();
    port.failures.grant = [new Error('14 UNAVAILABLE')];
    const done = registration.start(INSTANCE, KEY, 'v');
    const outcome = registration.outcome();
    await clock.advance(0);
    await registration.stop(true, 3_000);
    await expect(done).rejects.toBeInstanceOf(EtcdStoppedError);
    await expect(outcome).resolves.toBe('stopped');
    expect(port.count('revoke')).toBe(0); // no lease was granted
    expect(clock.pending).toBe(0);
  });
});
