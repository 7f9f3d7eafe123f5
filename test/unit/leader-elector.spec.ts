import { LeaderElector, type ElectionLogger } from '../../lib/election/leader-elector.js';
import { LeaseEngine } from '../../lib/lease/lease-engine.js';
import { leaseTiming } from '../../lib/lease/lease-timing.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeLeaseKv } from '../support/fake-lease-kv.js';
import { FakeLeasePort, FakeLeaseStore } from '../support/fake-lease-port.js';

const KEY = '/elections/jobs/leader';
const TTL = 10;
const timing = leaseTiming(TTL); // renew deadline 6,666 ms, retry period 2,000 ms

class Lines implements ElectionLogger {
  readonly lines: string[] = [];
  log(message: string): void {
    this.lines.push(`log ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn ${message}`);
  }
}

/** Candidates on one fake etcd (leases expire after their TTL, as etcd's do), each on its own link. */
function cluster(names: string[]) {
  const clock = new FakeClock();
  const store = new FakeLeaseStore(clock, true);
  const kv = new FakeLeaseKv(clock, store);
  const candidates = names.map(name => {
    const link = new FakeLeasePort(clock, store);
    const logger = new Lines();
    const elector = new LeaderElector(
      kv.link(link),
      new LeaseEngine(link, clock, () => 0.5),
      'jobs',
      KEY,
      name,
      timing,
      logger,
      clock,
    );
    return { name, link, logger, elector };
  });
  const leaders = () => candidates.filter(c => c.elector.isLeader).map(c => c.name);
  /** Advances `ms` in 100 ms steps; fails if two candidates ever lead at once; returns the gaps. */
  const run = async (ms: number): Promise<{ longestGapMs: number; samples: string[][] }> => {
    let gap = 0;
    let longestGapMs = 0;
    const samples: string[][] = [];
    for (let t = 0; t < ms; t += 100) {
      await clock.advance(100);
      const now = leaders();
      samples.push(now);
      if (now.length > 1) throw new Error(`two leaders at once: ${now.join(', ')}`);
      gap = now.length === 0 ? gap + 100 : 0;
      longestGapMs = Math.max(longestGapMs, gap);
    }
    return { longestGapMs, samples };
  };
  const stop = () => Promise.all(candidates.map(c => c.elector.resign(1_000)));
  return { clock, kv, store, candidates, leaders, run, stop };
}

describe('LeaderElector (fake etcd, fake clock)', () => {
  it('one leader among three, for a minute, on one keep-alive stream per candidate', async () => {
    const { candidates, leaders, run, stop } = cluster(['a', 'b', 'c']);
    for (const c of candidates) c.elector.start();
    await run(1_000);
    expect(leaders()).toHaveLength(1);
    const first = leaders()[0];
    const { longestGapMs } = await run(60_000);
    expect(leaders()).toEqual([first]);
    expect(longestGapMs).toBe(0);
    for (const c of candidates) expect(c.link.count('open')).toBe(1);
    await stop();
  });

  it('a partitioned leader stops leading before etcd can expire its lease; another leads within TTL + 2 s', async () => {
    const { clock, candidates, leaders, run, kv, store, stop } = cluster(['a', 'b']);
    for (const c of candidates) c.elector.start();
    await run(1_000);
    const leader = candidates.find(c => c.elector.isLeader)!;
    const other = candidates.find(c => c !== leader)!;
    leader.link.blackhole = true;
    const partitionedAt = clock.now();
    const lease = kv.keys.get(KEY)!.lease;
    const renewedAt = store.renewedAt.get(lease)!;
    // Sampled every 100 ms: never two leaders (run throws), and leadership comes back.
    const { samples, longestGapMs } = await run(TTL * 1000 + 2_000);
    expect(leaders()).toEqual([other.name]);
    expect(longestGapMs).toBeLessThanOrEqual(TTL * 1000 + 2_000);
    // The old leader let go at its renew deadline, before etcd expired its lease.
    const stoppedAt = samples.findIndex(s => !s.includes(leader.name));
    expect(stoppedAt).toBeGreaterThanOrEqual(0);
    const expiresInEtcd = renewedAt + TTL * 1000;
    expect(partitionedAt + (stoppedAt + 1) * 100).toBeLessThan(expiresInEtcd);
    const tookOver = samples.findIndex(s => s.includes(other.name));
    expect(partitionedAt + (tookOver + 1) * 100).toBeGreaterThanOrEqual(expiresInEtcd);
    expect(leader.logger.lines).toContainEqual(
      expect.stringMatching(
        /stopped leading "jobs": no renewal confirmed within the renew deadline/,
      ),
    );
    leader.link.blackhole = false;
    await stop();
  });

  it('slow leader (1.1 s each way): keeps leading on its one stream, never two leaders', async () => {
    const { candidates, leaders, run, stop } = cluster(['a', 'b']);
    for (const c of candidates) c.elector.start();
    await run(1_000);
    const leader = candidates.find(c => c.elector.isLeader)!;
    leader.link.latencyMs = 1_100;
    const { longestGapMs } = await run(60_000);
    expect(longestGapMs).toBe(0);
    expect(leaders()).toEqual([leader.name]);
    await stop();
  });

  it('renewals reach etcd but no answer comes back: the leader gives the key up in etcd (revokes), another leads within about one TTL', async () => {
    const { candidates, leaders, run, stop } = cluster(['a', 'b']);
    for (const c of candidates) c.elector.start();
    await run(1_000);
    const leader = candidates.find(c => c.elector.isLeader)!;
    const other = candidates.find(c => c !== leader)!;
    // Late keep-alives would keep its key alive for ever: without giving up, nobody could take over.
    leader.link.dropAnswers = true;
    const { longestGapMs } = await run(TTL * 1000 + 2_000);
    expect(leaders()).toEqual([other.name]);
    expect(longestGapMs).toBeLessThanOrEqual(TTL * 1000);
    expect(leader.link.count('revoke')).toBe(1);
    expect(leader.logger.lines).toContainEqual(
      expect.stringMatching(/gave up leadership of "jobs" in etcd \(lease \d+ revoked\)/),
    );
    await stop();
  });

  it('the leader key deleted from outside: the leader steps down at once, and someone leads again', async () => {
    const { candidates, leaders, run, kv, stop } = cluster(['a', 'b']);
    for (const c of candidates) c.elector.start();
    await run(1_000);
    kv.delete(KEY);
    expect(leaders()).toEqual([]);
    await run(1_000);
    expect(leaders()).toHaveLength(1);
    await stop();
  });

  it('resign revokes the lease: the next candidate takes over at once', async () => {
    const { candidates, leaders, run, stop } = cluster(['a', 'b']);
    for (const c of candidates) c.elector.start();
    await run(1_000);
    const leader = candidates.find(c => c.elector.isLeader)!;
    const other = candidates.find(c => c !== leader)!;
    await leader.elector.resign(1_000);
    await run(200);
    expect(leaders()).toEqual([other.name]);
    await stop();
  });

  it('a wall-clock step of an hour either way changes nothing', async () => {
    const { clock, candidates, leaders, run, stop } = cluster(['a', 'b']);
    for (const c of candidates) c.elector.start();
    await run(1_000);
    const leader = leaders();
    clock.stepWall(3_600_000);
    await run(15_000);
    clock.stepWall(-7_200_000);
    const { longestGapMs } = await run(15_000);
    expect(leaders()).toEqual(leader);
    expect(longestGapMs).toBe(0);
    await stop();
  });
});
