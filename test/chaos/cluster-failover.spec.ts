import 'reflect-metadata';
import { type Subscription } from 'rxjs';
import { type ConfigChange, EtcdConfigService, EtcdRegistryService } from '../../lib/index.js';
import { type EtcdServer, nextValue, waitFor, within } from '../support/index.js';
import { FAST_TIMINGS, bootApp, pause, profile, useChaosSuite } from '../support/chaos-helpers.js';

/**
 * 3-member cluster: kill the leader, then a follower (quorum lost), restart both, under continuous
 * numbered config writes and registry churn from raw etcd3 clients. Every app must see every write
 * exactly once and converge to etcd's state.
 */

const CYCLES = profile(2, 6);
const WRITES_PER_PHASE = profile(25, 150);
const APPS = profile(2, 3);
const CALL_TIMEOUT_MS = 3000;

/** What one app's `changes$` subscriber saw. */
class Recorder {
  readonly counter: number[] = [];
  readonly seq = new Map<number, number>();
  readonly violations: string[] = [];
  private lastRevision = 0;
  readonly subscription: Subscription;

  constructor(
    readonly name: string,
    config: EtcdConfigService,
  ) {
    this.subscription = config.changes$.subscribe(change => this.record(change));
  }

  private record(change: ConfigChange): void {
    if (change.revision <= this.lastRevision) {
      this.violations.push(
        `${this.name}: revision ${change.revision} of "${change.key}" after ${this.lastRevision}`,
      );
    }
    this.lastRevision = change.revision;
    if (change.type !== 'put') {
      this.violations.push(`${this.name}: unexpected delete of "${change.key}"`);
      return;
    }
    if (change.key === 'counter') {
      const n = Number(change.value);
      const last = this.counter[this.counter.length - 1] ?? 0;
      if (!(n > last)) this.violations.push(`${this.name}: counter ${n} after ${last}`);
      this.counter.push(n);
    } else if (change.key.startsWith('seq/')) {
      const n = Number(change.key.slice(4));
      this.seq.set(n, (this.seq.get(n) ?? 0) + 1);
    }
  }
}

describe('chaos: 3-member cluster failover under writes and churn', () => {
  const suite = useChaosSuite({ clusterSize: 3 });
  const { apps } = suite;

  it(
    'loses and duplicates nothing, and every app converges',
    async () => {
      const opts = (i: number) => ({
        hosts: suite.cluster.hosts,
        ...FAST_TIMINGS,
        registry: {
          serviceName: 'chaos-app',
          instanceId: `app-${i}`,
          host: '127.0.0.1',
          port: 5000 + i,
          ttl: 4,
        },
      });
      for (let i = 0; i < APPS; i++) apps.push(await bootApp(opts(i)));
      const configs = apps.map(app => app.get(EtcdConfigService));
      const registries = apps.map(app => app.get(EtcdRegistryService));
      const recorders = configs.map((config, i) => new Recorder(`app-${i}`, config));
      // every app discovers the churned service from the start
      await Promise.all(registries.map(r => r.getInstances('churn')));

      let written = 0;
      let stopWriting = false;
      let writeFailures = 0;
      const putUntilDone = async (key: string, value: string, lease?: string) => {
        for (;;) {
          try {
            const builder = suite.raw.put(key).value(value);
            if (lease) builder.lease(lease);
            await builder.options({ deadline: Date.now() + CALL_TIMEOUT_MS });
            return;
          } catch {
            writeFailures++;
            await pause(100);
          }
        }
      };
      const writer = (async () => {
        while (!stopWriting) {
          const n = written + 1;
          // a put that failed may still have been applied: the retry writes the same value, which
          // must not show up as a second change
          await putUntilDone(`/config/seq/${String(n).padStart(6, '0')}`, String(n));
          await putUntilDone('/config/counter', String(n));
          written = n;
          await pause(10);
        }
      })();

      let churnRounds = 0;
      const churn = (async () => {
        const live: Array<{ id: string; lease: string }> = [];
        let next = 0;
        while (!stopWriting) {
          try {
            if (live.length < 4 || Math.random() < 0.5) {
              const grant = await suite.raw.leaseClient.leaseGrant(
                { TTL: 120 },
                { deadline: Date.now() + CALL_TIMEOUT_MS },
              );
              const id = `i-${next++}`;
              live.push({ id, lease: grant.ID });
              await putUntilDone(
                `/services/churn/${id}`,
                JSON.stringify({ host: '10.0.0.1', port: 1000 + next }),
                grant.ID,
              );
            } else {
              const victim = live.splice(Math.floor(Math.random() * live.length), 1)[0]!;
              await suite.raw.leaseClient.leaseRevoke(
                { ID: victim.lease },
                { deadline: Date.now() + CALL_TIMEOUT_MS },
              );
            }
            churnRounds++;
          } catch {
            // quorum lost or member gone: try again later; etcd's state stays the truth
          }
          await pause(50);
        }
      })();

      const progress = async (count: number, what: string) => {
        const target = written + count;
        await waitFor(() => written >= target, {
          timeout: 60_000,
          message: `writer stuck at ${written} (${what})`,
        });
      };

      try {
        await progress(WRITES_PER_PHASE, 'warm-up');
        for (let cycle = 0; cycle < CYCLES; cycle++) {
          const leader = await suite.cluster.leader();
          await leader.kill();
          await progress(WRITES_PER_PHASE, 'after leader kill');
          const newLeader = await suite.cluster.leader();
          const follower = suite.cluster.liveMembers.find(m => m !== newLeader) as EtcdServer;
          // the second kill loses quorum: writes stall until a member comes back
          await follower.kill();
          await pause(3000);
          await Promise.all([leader.restart(), follower.restart()]);
          await suite.cluster.leader(20_000);
          await progress(WRITES_PER_PHASE, 'after restart');
        }
      } finally {
        stopWriting = true;
        // each loop ends after its current call (deadline CALL_TIMEOUT_MS); the writer's put retries
        // until quorum is back, so a cluster that never recovers fails here by name
        await within(Promise.all([writer, churn]), 60_000, 'the writer and churn loops stopped');
      }
      expect(churnRounds).toBeGreaterThan(0);

      // etcd's state is the truth
      const etcdConfig = await suite.raw.getAll().prefix('/config/').strings();
      const etcdChurn = await suite.raw.getAll().prefix('/services/churn/').strings();
      expect(etcdConfig['/config/counter']).toBe(String(written));
      const expectedInstances = Object.keys(etcdChurn)
        .map(k => k.slice('/services/churn/'.length))
        .sort();

      for (const [i, config] of configs.entries()) {
        const recorder = recorders[i]!;
        await waitFor(() => config.get('counter') === written, {
          timeout: 30_000,
          message: `app-${i} counter ${String(config.get('counter'))}, etcd ${written}`,
        });
        // every numbered key seen exactly once, none missing
        await waitFor(() => recorder.seq.size === written, {
          timeout: 30_000,
          message: `app-${i} saw ${recorder.seq.size} of ${written} seq keys`,
        });
        const duplicates = [...recorder.seq].filter(([, count]) => count !== 1);
        expect(duplicates).toEqual([]);
        expect(recorder.violations).toEqual([]);
        expect(recorder.counter[recorder.counter.length - 1]).toBe(written);
        // the whole map equals etcd's
        const all = config.getAll();
        expect(Object.keys(all).length).toBe(Object.keys(etcdConfig).length);
        for (const [key, value] of Object.entries(etcdConfig)) {
          expect(String(all[key.slice('/config/'.length)])).toBe(value);
        }
      }
      for (const [i, registry] of registries.entries()) {
        await waitFor(
          async () =>
            (await registry.getInstances('churn'))
              .map(s => s.instanceId)
              .sort()
              .join(',') === expectedInstances.join(','),
          { timeout: 30_000, message: `app-${i} churn list differs from etcd` },
        );
        await nextValue(registry.status$, s => s === 'registered', 30_000, `app-${i} registered`);
        await waitFor(
          async () => (await suite.raw.get(`/services/chaos-app/app-${i}`).string()) !== null,
          {
            timeout: 15_000,
            message: `app-${i} registration key missing`,
          },
        );
      }
      for (const r of recorders) r.subscription.unsubscribe();
      console.log(
        `cluster chaos: ${written} numbered writes, ${writeFailures} failed attempts retried, ` +
          `${churnRounds} churn rounds, ${CYCLES} kill cycle(s), ${APPS} apps`,
      );
    },
    profile(120_000, 600_000),
  );
});
