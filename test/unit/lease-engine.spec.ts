import { LeaseEngine, type Lease, type LeaseLoss } from '../../lib/lease/lease-engine.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeLeasePort } from '../support/fake-lease-port.js';

function setup() {
  const clock = new FakeClock();
  const port = new FakeLeasePort(clock);
  const engine = new LeaseEngine(port, clock, () => 1 - Number.EPSILON);
  return { clock, port, engine };
}

function watchLoss(lease: Lease): { losses: LeaseLoss[]; completed: boolean } {
  const seen = { losses: [] as LeaseLoss[], completed: false };
  lease.lost$.subscribe({
    next: loss => seen.losses.push(loss),
    complete: () => (seen.completed = true),
  });
  return seen;
}

describe('LeaseEngine (fake lease port, fake clock)', () => {
  it('keeps a lease alive on ONE stream: one request every ttl / 3, never a stream per heartbeat', async () => {
    const { clock, port, engine } = setup();
    const lease = await engine.grant({ ttl: 9 });
    await clock.advance(2_999);
    expect(port.count('keepAlive')).toBe(0);
    await clock.advance(1);
    expect(port.count('keepAlive')).toBe(1);
    await clock.advance(3_000 * 99);
    expect(port.count('keepAlive')).toBe(100);
    expect(port.count('open')).toBe(1);
    expect(port.openStreams).toBe(1);
    expect(lease.alive).toBe(true);
    lease.release();
    expect(port.openStreams).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('slow link (300 ms each way, ttl 5): never lost, validUntil follows the send time of each confirmed renewal', async () => {
    const { clock, port, engine } = setup();
    port.latencyMs = 300;
    const lease = await engine.grant({ ttl: 5 });
    const seen = watchLoss(lease);
    for (let t = 0; t < 120_000; t += 100) {
      await clock.advance(100);
      expect(lease.alive).toBe(true);
    }
    expect(seen.losses).toEqual([]);
    // Confirmed renewals are at most one period + one round trip old.
    expect(clock.now() - lease.lastConfirmedAt).toBeLessThanOrEqual(5_000 / 3 + 600);
    lease.release();
  });

  it('slow leader link (1.1 s each way) at ttl 10 with an election bound (renew deadline 2/3 ttl, retry 2 s): never lost', async () => {
    const { clock, port, engine } = setup();
    port.latencyMs = 1_100;
    const lease = await engine.grant({ ttl: 10, renewEveryMs: 2_000, boundMs: 6_666 });
    const seen = watchLoss(lease);
    for (let t = 0; t < 60_000; t += 250) {
      await clock.advance(250);
      expect(lease.alive).toBe(true);
    }
    expect(seen.losses).toEqual([]);
    expect(port.count('open')).toBe(1);
    lease.release();
  });

  it('a second of event-loop lag before every beat never costs a lease at ttl 10', async () => {
    const { clock, engine } = setup();
    const lease = await engine.grant({ ttl: 10 });
    const seen = watchLoss(lease);
    for (let i = 0; i < 30; i++) {
      await clock.advance(3_333);
      clock.jump(1_000); // the loop was blocked: the beat runs a second late
      await clock.advance(0);
    }
    expect(seen.losses).toEqual([]);
    expect(lease.alive).toBe(true);
    lease.release();
  });

  it('etcd answers TTL 0 (lease expired or revoked elsewhere): lost "gone" at the next answer', async () => {
    const { clock, port, engine } = setup();
    const lease = await engine.grant({ ttl: 9 });
    const seen = watchLoss(lease);
    port.end(lease.id);
    await clock.advance(3_000);
    expect(seen.losses).toEqual([
      { cause: 'gone', silentMs: 3_000, message: `lease ${lease.id} expired or was revoked` },
    ]);
    expect(seen.completed).toBe(true);
    expect(lease.alive).toBe(false);
    expect(port.openStreams).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('no answer at all (partition): lost "expired" exactly at last confirmed send + TTL, not before', async () => {
    const { clock, port, engine } = setup();
    const lease = await engine.grant({ ttl: 9 });
    await clock.advance(3_000); // first renewal, confirmed: sent at +3 s
    const confirmed = lease.lastConfirmedAt;
    port.blackhole = true;
    const seen = watchLoss(lease);
    await clock.advance(confirmed + 9_000 - clock.now() - 1);
    expect(seen.losses).toEqual([]);
    expect(lease.alive).toBe(true);
    await clock.advance(1);
    expect(seen.losses).toEqual([expect.objectContaining({ cause: 'expired', silentMs: 9_000 })]);
    expect(seen.losses[0]!.message).toMatch(/no renewal of lease 100 confirmed for 9\.0s/);
  });

  it('a broken stream is reopened with backoff and the lease stays alive', async () => {
    const { clock, port, engine } = setup();
    const lease = await engine.grant({ ttl: 9 });
    await clock.advance(3_000);
    port.breakStreams();
    await clock.advance(250); // first reopen: 250 ms (the top of the jitter range)
    expect(port.count('open')).toBe(2);
    expect(port.openStreams).toBe(1);
    await clock.advance(30_000);
    expect(lease.alive).toBe(true);
    expect(port.count('open')).toBe(2);
    lease.release();
  });

  it('a stream that stops answering is replaced, not waited on until the lease runs out', async () => {
    const { clock, port, engine } = setup();
    const lease = await engine.grant({ ttl: 9 });
    port.blackhole = true;
    await clock.advance(3_000 * 2); // at the second beat the first request is one period old
    port.blackhole = false;
    expect(port.count('open')).toBe(2);
    await clock.advance(1);
    expect(lease.alive).toBe(true);
    lease.release();
  });

  it('check(): a renewal now, answered alive or gone', async () => {
    const { clock, port, engine } = setup();
    const lease = await engine.grant({ ttl: 9 });
    const first = lease.check(1_000);
    await clock.advance(0);
    await expect(first).resolves.toBe('alive');
    port.end(lease.id);
    const second = lease.check(1_000);
    await clock.advance(0);
    await expect(second).resolves.toBe('gone');
    expect(lease.loss?.cause).toBe('gone');
  });

  it('revoke: stops renewing, revokes in etcd, completes lost$ without a loss', async () => {
    const { clock, port, engine } = setup();
    const lease = await engine.grant({ ttl: 9 });
    const seen = watchLoss(lease);
    await lease.revoke(1_000);
    expect(port.count('revoke')).toBe(1);
    expect(port.live.has(lease.id)).toBe(false);
    expect(seen).toEqual({ losses: [], completed: true });
    expect(clock.pending).toBe(0);
  });

  it('a wall-clock step of an hour either way changes nothing: durations are monotonic', async () => {
    const { clock, port, engine } = setup();
    const lease = await engine.grant({ ttl: 5 });
    const seen = watchLoss(lease);
    clock.stepWall(3_600_000);
    await clock.advance(2_000);
    clock.stepWall(-7_200_000);
    await clock.advance(20_000);
    expect(seen.losses).toEqual([]);
    port.blackhole = true;
    await clock.advance(5_000);
    expect(seen.losses).toHaveLength(1);
  });

  it('revive(): a lease lost by the local bound but kept by etcd comes back under the same id; one etcd dropped does not', async () => {
    const { clock, port, engine } = setup();
    const lease = await engine.grant({ ttl: 9 });
    const seen = watchLoss(lease);
    port.blackhole = true; // etcd unreachable for longer than the TTL; its lease table keeps 100
    await clock.advance(9_000);
    expect(seen.losses.map(loss => loss.cause)).toEqual(['expired']);
    port.blackhole = false;

    const revived = await engine.revive(lease.id, { ttl: 9 });
    expect(revived?.id).toBe(lease.id);
    expect(revived?.alive).toBe(true);
    expect(port.count('grant')).toBe(1); // not replaced
    // Kept alive like a granted one, on one stream at ttl / 3.
    const beats = port.count('keepAlive');
    await clock.advance(30_000);
    expect(port.count('keepAlive') - beats).toBe(10);
    expect(revived?.alive).toBe(true);
    revived?.release();

    port.end(lease.id); // etcd expired it
    await expect(engine.revive(lease.id, { ttl: 9 })).resolves.toBeUndefined();
    expect(port.openStreams).toBe(0);
  });

  it('revive(): no answer within the bound rejects (the caller retries), leaving no stream nor timer', async () => {
    const { clock, port, engine } = setup();
    const lease = await engine.grant({ ttl: 9 });
    lease.release();
    port.blackhole = true;
    const attempt = engine.revive(lease.id, { ttl: 9, timeoutMs: 2_000 });
    const settled = expect(attempt).rejects.toThrow(
      /no keep-alive answer for lease 100 within 2000 ms/,
    );
    await clock.advance(2_000);
    await settled;
    expect(port.openStreams).toBe(0);
    expect(clock.pending).toBe(0);
  });
});
