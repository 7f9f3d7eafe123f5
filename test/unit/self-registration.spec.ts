import { Subject, type Observable } from 'rxjs';
import type {
  KeyHolder,
  OwnKeyEvent,
  RegistrationPort,
} from '../../lib/registry/registration-port.js';
import { EtcdStoppedError } from '../../lib/errors/etcd-stopped.error.js';
import { LeaseEngine } from '../../lib/lease/lease-engine.js';
import { SelfRegistration } from '../../lib/registry/self-registration.js';
import type { RegistrationLogger } from '../../lib/registry/registration.interfaces.js';
import type { ServiceInstance } from '../../lib/discovery/service-instance.interface.js';
import type { RegistryStatus } from '../../lib/registry/registry-status.interface.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeLeasePort } from '../support/fake-lease-port.js';

/** An in-memory etcd key space for one registration: keys, a single-key watch, scripted failures. */
class FakePort implements RegistrationPort {
  readonly calls: string[] = [];
  readonly keys = new Map<string, KeyHolder>();
  readonly events = new Subject<OwnKeyEvent>();
  /** Errors thrown by the next calls of an operation (FIFO). */
  readonly failures: Record<string, Error[]> = {};
  private revision = 1;

  constructor(readonly leases: FakeLeasePort) {
    // etcd deletes the keys of a lease that ends, and the watch reports it.
    leases.onEnd = lease => {
      for (const [key, holder] of this.keys) {
        if (holder.lease === lease) {
          this.keys.delete(key);
          this.events.next({ type: 'delete', revision: ++this.revision });
        }
      }
    };
  }

  async put(key: string, value: string, lease: string): Promise<number> {
    this.record('put');
    if (!this.leases.live.has(lease)) throw FakeLeasePort.gone();
    this.keys.set(key, { value, lease });
    return ++this.revision;
  }
  async get(key: string): Promise<KeyHolder | undefined> {
    this.record('get');
    return this.keys.get(key);
  }
  watch(): Observable<OwnKeyEvent> {
    return this.events.asObservable();
  }
  describe(err: unknown): string {
    return err instanceof Error ? err.message : String(err);
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
    return this.calls.filter(c => c === op).length + this.leases.count(op);
  }
  get allCalls(): string[] {
    return this.calls;
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
  const leases = new FakeLeasePort(clock);
  const port = new FakePort(leases);
  const logger = new RecordingLogger();
  const random = () => 1 - Number.EPSILON; // the top of the jitter range: delays are exact
  const registration = new SelfRegistration(port, new LeaseEngine(leases, clock, random), {
    ttl: TTL,
    retry: { initialDelay: 100, maxDelay: 1_000 },
    logger,
    initialStatus: 'registering',
    clock,
    random,
  });
  const statuses: RegistryStatus[] = [];
  registration.status$.subscribe(status => statuses.push(status));
  return { clock, port, leases, logger, registration, statuses };
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
    const { clock, port, leases, registration, statuses, logger } = setup();
    const done = registration.start(INSTANCE, KEY, 'v');
    // Before etcd confirmed the key: no self.
    expect(registration.self).toBeUndefined();
    expect(registration.status).toBe('registering');
    await clock.advance(0);
    await expect(done).resolves.toBe(INSTANCE);
    expect(leases.calls).toEqual(['grant']);
    expect(port.calls).toEqual(['get', 'put']);
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
    expect(leases.count('open')).toBe(1); // one keep-alive stream for the lease, not one per beat
    expect(port.count('put')).toBe(1);
    expect(statuses).toEqual(['registering', 'registered']);
  });

  it('no keep-alive answered for the whole TTL, but etcd kept the lease (an etcd restart): lost meanwhile, then the SAME lease revived, no grant, no put', async () => {
    const { clock, port, leases, logger, statuses } = await registered();
    leases.blackhole = true; // etcd unreachable; its lease table keeps lease 100 (expire off)
    await clock.advance(TTL * 1000 - 1);
    expect(statuses.at(-1)).toBe('registered');
    await clock.advance(1); // the grant (the last confirmation) + TTL: nothing confirms it any more
    expect(statuses.at(-1)).toBe('lost');
    // An outage far longer than the local bound: revive attempts fail quietly with backoff.
    await clock.advance(20_000);
    expect(statuses.at(-1)).toBe('lost');
    const attempts = leases.count('open');
    leases.blackhole = false; // etcd is back, with the lease restored and extended
    // The attempt in flight times out (half the TTL), the next one comes after at most maxDelay.
    await clock.advance(6_000);
    expect(leases.count('open')).toBeGreaterThan(attempts);
    expect(port.keys.get(KEY)).toEqual({ value: expect.any(String), lease: '100' });
    expect(leases.count('grant')).toBe(1); // the boot grant only: not replaced
    expect(port.count('put')).toBe(1); // the key was still there: not put again
    expect(statuses).toEqual(['registering', 'registered', 'lost', 'registered']);
    expect(logger.matching(/^warn/)).toEqual([
      expect.stringMatching(
        /registration \/services\/orders\/web-1 lost: no renewal of lease 100 confirmed for 9\.0s.*keeping it if etcd says it is alive/,
      ),
    ]);
    // Kept alive afterwards on one stream at the regular cadence.
    const beats = leases.count('keepAlive');
    await clock.advance(30_000);
    expect(leases.count('keepAlive') - beats).toBe(10);
    expect(statuses.at(-1)).toBe('registered');
  });

  it('a revived lease whose key etcd lost is kept and the key put again under it (no new grant)', async () => {
    const { clock, port, leases, statuses } = await registered();
    leases.blackhole = true;
    await clock.advance(TTL * 1000);
    expect(statuses.at(-1)).toBe('lost');
    port.keys.delete(KEY); // gone without a watch event (e.g. restored from an older snapshot)
    leases.blackhole = false;
    await clock.advance(6_000);
    expect(port.keys.get(KEY)).toEqual({ value: expect.any(String), lease: '100' });
    expect(leases.count('grant')).toBe(1);
    expect(port.count('put')).toBe(2);
    expect(statuses.at(-1)).toBe('registered');
  });

  it('no keep-alive answered for the whole TTL and etcd dropped the lease: a new lease and the key put again', async () => {
    const { clock, port, leases, statuses } = await registered();
    leases.blackhole = true;
    await clock.advance(TTL * 1000);
    expect(statuses.at(-1)).toBe('lost');
    leases.live.delete('100'); // etcd expired it (its key with it) while unreachable
    port.keys.delete(KEY);
    leases.blackhole = false;
    await clock.advance(6_000);
    expect(port.keys.get(KEY)?.lease).toBe('101');
    expect(leases.count('grant')).toBe(2);
    expect(statuses).toEqual(['registering', 'registered', 'lost', 'registered']);
  });

  it('revive attempts are spread by jittered backoff (no thundering herd)', async () => {
    const opensAt = async (jitter: number) => {
      const clock = new FakeClock();
      const leases = new FakeLeasePort(clock);
      const port = new FakePort(leases);
      const random = () => jitter;
      const registration = new SelfRegistration(port, new LeaseEngine(leases, clock, random), {
        ttl: TTL,
        retry: { initialDelay: 800, maxDelay: 30_000 },
        logger: new RecordingLogger(),
        initialStatus: 'registering',
        clock,
        random,
      });
      void registration.start(INSTANCE, KEY, 'v');
      await clock.advance(0);
      leases.blackhole = true;
      await clock.advance(TTL * 1000);
      expect(registration.status).toBe('lost');
      const before = leases.count('open');
      const times: number[] = [];
      for (let t = 0; t < 4_000; t += 50) {
        await clock.advance(50);
        if (leases.count('open') > before && times.length === 0) times.push(t + 50);
      }
      await registration.stop(false, 100);
      return times[0];
    };
    const early = await opensAt(0.1);
    const late = await opensAt(0.9);
    expect(early).toBeDefined();
    expect(late).toBeDefined();
    expect(late! - early!).toBeGreaterThanOrEqual(300); // 400-800 ms for the first attempt
  });

  it('slow link (answers 300 ms late each way, ttl 5): registered throughout, one stream, no re-put', async () => {
    const clock = new FakeClock();
    const leases = new FakeLeasePort(clock);
    const port = new FakePort(leases);
    const logger = new RecordingLogger();
    const registration = new SelfRegistration(port, new LeaseEngine(leases, clock), {
      ttl: 5,
      retry: { initialDelay: 100, maxDelay: 1_000 },
      logger,
      initialStatus: 'registering',
      clock,
    });
    const statuses: RegistryStatus[] = [];
    registration.status$.subscribe(status => statuses.push(status));
    leases.latencyMs = 300;
    const done = registration.start(INSTANCE, KEY, 'v');
    await clock.advance(0);
    await expect(done).resolves.toBe(INSTANCE);
    for (let t = 0; t < 60_000; t += 500) {
      await clock.advance(500);
      expect(registration.status).toBe('registered');
    }
    expect(statuses).toEqual(['registering', 'registered']);
    expect(port.count('put')).toBe(1);
    expect(leases.count('open')).toBe(1);
    expect(logger.matching(/^warn/)).toEqual([]);
    await registration.stop(true, 1_000);
  });

  it('a broken keep-alive stream is reopened without touching the registration', async () => {
    const { clock, port, leases, statuses } = await registered();
    for (let i = 0; i < 5; i++) {
      await clock.advance(3_000);
      leases.breakStreams();
    }
    await clock.advance(30_000);
    expect(statuses).toEqual(['registering', 'registered']);
    expect(port.count('put')).toBe(1);
    expect(leases.count('open')).toBe(6);
  });

  it('lease lost (revoked or expired): a new lease and the key put again', async () => {
    const { clock, port, leases, logger, statuses } = await registered();
    // Revoked (its key with it) without our watch noticing yet.
    leases.live.delete('100');
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
    const { clock, port, leases, logger, statuses } = await registered();
    clock.jump(15_000); // blocked: no timer ran, etcd expired the lease meanwhile
    leases.end('100');
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

  it('the own-key watch resumed after a reconnect (resync): reads the key; ours → nothing put; missed delete → put back', async () => {
    const { clock, port, logger, statuses } = await registered();
    port.events.next({ type: 'resync' });
    await clock.advance(0);
    expect(port.count('get')).toBe(2);
    expect(port.count('put')).toBe(1);
    port.keys.delete(KEY); // deleted while the watch was down: no event came
    port.events.next({ type: 'resync' });
    await clock.advance(0);
    expect(port.count('put')).toBe(2);
    expect(port.keys.get(KEY)?.lease).toBe('100');
    expect(logger.matching(/was deleted from outside; putting it back/)).toHaveLength(1);
    expect(statuses).toEqual(['registering', 'registered', 'lost', 'registered']);
  });

  it('a failing put is retried with backoff: one warning for the streak, registered when etcd answers', async () => {
    const { clock, port, logger, registration } = setup();
    port.failures.put = [new Error('14 UNAVAILABLE'), new Error('14 UNAVAILABLE')];
    const done = registration.start(INSTANCE, KEY, 'v');
    await clock.advance(0);
    expect(port.count('put')).toBe(1);
    await clock.advance(100); // backoff: 100 ms, then 200 ms
    expect(port.count('put')).toBe(2);
    await clock.advance(200);
    await expect(done).resolves.toBe(INSTANCE);
    expect(port.count('put')).toBe(3);
    expect(logger.matching(/^warn/)).toEqual([
      expect.stringMatching(
        /registration of \/services\/orders\/web-1: put failed \(14 UNAVAILABLE\); retrying/,
      ),
    ]);
  });

  it('a second of event-loop lag before every beat never costs the registration (ttl 10)', async () => {
    const clock = new FakeClock();
    const leases = new FakeLeasePort(clock);
    const port = new FakePort(leases);
    const registration = new SelfRegistration(port, new LeaseEngine(leases, clock), {
      ttl: 10,
      retry: { initialDelay: 100, maxDelay: 1_000 },
      logger: new RecordingLogger(),
      initialStatus: 'registering',
      clock,
    });
    const statuses: RegistryStatus[] = [];
    registration.status$.subscribe(status => statuses.push(status));
    const done = registration.start(INSTANCE, KEY, 'v');
    await clock.advance(0);
    await expect(done).resolves.toBe(INSTANCE);
    for (let i = 0; i < 30; i++) {
      await clock.advance(3_333);
      clock.jump(1_000); // the loop was blocked for a second
      await clock.advance(0);
    }
    expect(statuses).toEqual(['registering', 'registered']);
    expect(port.count('put')).toBe(1);
    await registration.stop(true, 1_000);
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
    const { clock, port, leases, registration } = setup();
    leases.failures.grant = [new Error('14 UNAVAILABLE')];
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
