import 'reflect-metadata';
import { type INestApplication } from '@nestjs/common';
import { EtcdElectionService } from '../../lib/index.js';
import { TcpProxy, expectDuration, waitFor } from '../support/index.js';
import { TEST_RETRY } from '../support/nest-apps.js';
import { bootApp, pause, profile, useChaosSuite } from '../support/chaos-helpers.js';

/**
 * A slow leader: the leader's link to etcd turns slow (1.1 s each way) at ttl 10. Its
 * renewals answer late. Either it keeps leading (renewals still confirmed within the renew deadline)
 * or it gives leadership up and another instance takes over: a leader is back within TTL + 2 s,
 * and never are two instances leaders at once (sampled every 100 ms in one process).
 */

const ELECTION = 'jobs';
const TTL = 10;
const OBSERVE_MS = profile(30_000, 180_000);

describe('chaos: slow leader (1.1 s each way, ttl 10)', () => {
  const suite = useChaosSuite();
  const members: Array<{ name: string; proxy: TcpProxy; app: INestApplication }> = [];

  beforeAll(async () => {
    for (const name of ['a', 'b', 'c']) {
      const proxy = await TcpProxy.start({ host: '127.0.0.1', port: suite.etcd.clientPort });
      suite.closables.push(proxy);
      const app = await bootApp({
        hosts: proxy.endpoint,
        config: false,
        registry: { serviceName: 'lead', instanceId: `lead-${name}`, port: 3000, ttl: TTL },
        retry: TEST_RETRY,
        connectTimeout: 5000,
        // gRPC pings must survive the late answers of the second test (8 s one way).
        keepaliveTimeout: 20_000,
      });
      suite.apps.push(app);
      members.push({ name, proxy, app });
    }
  });

  const leaders = () =>
    members.filter(m => m.app.get(EtcdElectionService).isLeader(ELECTION)).map(m => m.name);

  /** Samples every 100 ms for `ms`: throws on two leaders; the longest and total leaderless time. */
  async function observe(ms: number) {
    let gap = 0;
    let longestGap = 0;
    let leaderless = 0;
    const seen = new Set<string>();
    let lastTick = Date.now();
    const started = lastTick;
    while (Date.now() - started < ms) {
      await pause(100);
      const now = Date.now();
      const step = now - lastTick;
      lastTick = now;
      const current = leaders();
      if (current.length > 1) throw new Error(`two leaders at once: ${current.join(', ')}`);
      for (const name of current) seen.add(name);
      if (current.length === 0) {
        gap += step;
        leaderless += step;
      } else {
        gap = 0;
      }
      longestGap = Math.max(longestGap, gap);
    }
    return { longestGap, leaderless, seen };
  }

  it('a leader is back within TTL + 2 s and there are never two', async () => {
    await waitFor(() => leaders().length === 1, {
      timeout: 20_000,
      message: 'no leader was elected at all (before any fault)',
    });
    const slow = members.find(m => leaders()[0] === m.name)!;
    slow.proxy.setLatency(1_100);

    let result: Awaited<ReturnType<typeof observe>>;
    try {
      result = await observe(OBSERVE_MS);
    } finally {
      slow.proxy.heal();
    }
    const { longestGap, leaderless, seen } = result;
    // The figure docs/reliability.md quotes.
    process.stdout.write(
      `slow leader: ${slow.name} slowed; leaders seen ${[...seen].join(', ')}; leaderless ` +
        `${(leaderless / 1000).toFixed(1)} s of ${(OBSERVE_MS / 1000).toFixed(0)} s, longest gap ` +
        `${(longestGap / 1000).toFixed(1)} s\n`,
    );
    // The bound is the point of the test (the product's promise: a leader back within TTL + 2 s),
    // so it is not stretched for a loaded machine.
    expectDuration(longestGap, TTL * 1000 + 2_000 + 1, 'leaderless gap with a slow leader');
    expect(leaders()).toHaveLength(1);
  });

  it('answers to the leader come back after its renew deadline (requests on time): it gives its key up, another leads within TTL / 2', async () => {
    await waitFor(() => leaders().length === 1, {
      timeout: 20_000,
      message: 'no leader before the fault',
    });
    const slow = members.find(m => leaders()[0] === m.name)!;
    // Its renewals reach etcd on time and keep the lease alive there, but it cannot prove it: it
    // must step down (renew deadline 6.7 s) and revoke, or its key would outlive it by about a TTL.
    slow.proxy.setLatency(8_000, 'toClient');
    let result: Awaited<ReturnType<typeof observe>>;
    try {
      result = await observe(20_000);
    } finally {
      slow.proxy.heal();
    }
    const { longestGap, leaderless, seen } = result;
    process.stdout.write(
      `late answers: ${slow.name} slowed; leaders seen ${[...seen].join(', ')}; leaderless ` +
        `${(leaderless / 1000).toFixed(1)} s of 20 s, longest gap ${(longestGap / 1000).toFixed(1)} s\n`,
    );
    expect([...seen].some(name => name !== slow.name)).toBe(true);
    // Bound: half a TTL. Without the give-up the key lives about one TTL after the step-down.
    // The bound is the point of the test (without the give-up the gap is about one TTL): not stretched.
    expectDuration(
      longestGap,
      (TTL * 1000) / 2 + 1,
      'leaderless gap after the slowed leader gave up',
    );
  });
});
