import 'reflect-metadata';
import { EtcdConfigService, EtcdRegistryService } from '../../lib/index.js';
import { TcpProxy, nextValue, waitFor, within } from '../support/index.js';
import { FAST_TIMINGS, bootApp, pause, profile, useChaosSuite } from '../support/chaos-helpers.js';

/**
 * Partition (blackhole), connection resets and added latency between the app and etcd, through a TCP
 * proxy, while an outside client keeps writing directly to etcd.
 */

const ROUNDS = profile(1, 5);
const SERVICE_KEY = '/services/part/p-1';

describe('chaos: network partition and slowness (TcpProxy)', () => {
  const suite = useChaosSuite();
  const { logs } = suite;
  let proxy: TcpProxy;
  let config: EtcdConfigService;
  let registry: EtcdRegistryService;
  let n = 0;

  /** Writes the next numbered value straight to etcd (not through the proxy). */
  const writeDirect = async (count: number) => {
    for (let i = 0; i < count; i++) {
      n++;
      await suite.raw.put(`/config/part/k-${n % 7}`).value(String(n));
      await suite.raw.put('/config/counter').value(String(n));
    }
  };

  /** The app's whole config equals etcd's, its watch is up, and its registration is back. */
  const expectConverged = async (what: string) => {
    await nextValue(config.connected$, c => c, 30_000);
    await waitFor(
      async () => {
        const etcdState = await suite.raw.getAll().prefix('/config/').strings();
        const mine = config.getAll();
        return (
          Object.keys(etcdState).length === Object.keys(mine).length &&
          Object.entries(etcdState).every(
            ([k, v]) => String(mine[k.slice('/config/'.length)]) === v,
          )
        );
      },
      { timeout: 30_000, message: `config did not converge (${what})` },
    );
    await nextValue(registry.status$, s => s === 'registered', 30_000);
    await waitFor(async () => (await suite.raw.get(SERVICE_KEY).string()) !== null, {
      timeout: 15_000,
      message: `registration key missing (${what})`,
    });
  };

  beforeAll(async () => {
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: suite.etcd.clientPort });
    suite.closables.push(proxy);
    await suite.raw.put('/config/counter').value('0');
    await suite.raw.put('/config/doomed').value('deleted during the partition');
    const app = await bootApp({
      hosts: proxy.endpoint,
      ...FAST_TIMINGS,
      watchStallTimeout: 3000,
      registry: { serviceName: 'part', instanceId: 'p-1', host: '127.0.0.1', port: 5100, ttl: 3 },
    });
    suite.apps.push(app);
    config = app.get(EtcdConfigService);
    registry = app.get(EtcdRegistryService);
    await nextValue(registry.status$, s => s === 'registered', 10_000);
  });

  // A test that fails mid-partition must not leave the proxy blackholed (or slow) for the next one.
  afterEach(() => proxy.heal());

  /**
   * The outage lines of lib/watch/watch-outages.ts: one warning per outage for the whole app (not
   * one per watch): `watch on "<prefix>" lost (...)` when the app has one watch, `etcd watches lost
   * since ...` when it has several, `... lost again N s after it recovered` for a drop within 30 s
   * of the last recovery (a flapping link; further drops are counted, one line a minute).
   */
  const OUTAGE_LINE = /^(watch on "[^"]*"|etcd watches) lost( since| again| \()/;
  const RECOVERY_LINE = /^(watch on "[^"]*" (resumed|re-listed)|etcd watches resumed)/;

  it('blackhole: the stall is detected, the lease is lost, then everything heals', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      logs.clear();
      proxy.blackhole();
      await nextValue(config.connected$, c => !c, 20_000);
      await writeDirect(10);
      if (round === 0) await suite.raw.delete().key('/config/doomed');
      // the lease (ttl 3 s) cannot be renewed through the partition
      await nextValue(registry.status$, s => s === 'lost', 20_000);
      expect(config.get('counter')).not.toBe(n); // still serving the last known values
      // One outage, one warning for the app. Within 30 s of the previous recovery (the later rounds
      // of the full profile) a drop is 'lost again' once, then only counted: at most one line.
      const outage = logs.matching('warn', OUTAGE_LINE).length;
      if (round === 0) expect(outage).toBe(1);
      else expect(outage).toBeLessThanOrEqual(1);
      proxy.heal();
      await expectConverged(`blackhole round ${round}`);
      if (round === 0) {
        // ... and one recovery line once every watch is back
        await waitFor(() => logs.matching('log', RECOVERY_LINE).length > 0, {
          timeout: 15_000,
          message: 'no watch recovery line after the partition healed (bound: 15 s)',
        });
        expect(logs.matching('log', RECOVERY_LINE)).toHaveLength(1);
      }
      expect(config.get('doomed')).toBeUndefined();
      expect(config.get('counter')).toBe(n);
    }
  });

  it('reset: connections torn down mid-stream, the app resyncs every time', async () => {
    const writer = writeDirect(profile(40, 200));
    for (let i = 0; i < profile(4, 20); i++) {
      proxy.reset();
      await pause(200);
    }
    // direct writes (not through the proxy): seconds at most even on a loaded machine
    await within(writer, 60_000, 'the direct writer finished its writes');
    await expectConverged('resets');
    expect(config.get('counter')).toBe(n);
  });

  it('latency: changes still arrive in order through a slow link', async () => {
    proxy.setLatency(300);
    try {
      const seen: number[] = [];
      const sub = config.watch<number>('counter').subscribe(v => seen.push(Number(v)));
      await writeDirect(profile(10, 50));
      await waitFor(() => config.get('counter') === n, {
        timeout: 30_000,
        message: 'counter never arrived through the slow link',
      });
      sub.unsubscribe();
      for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
    } finally {
      proxy.heal();
    }
    await expectConverged('latency');
  });
});
