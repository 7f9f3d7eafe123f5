import 'reflect-metadata';
import type { ServiceInstance } from '../../../lib/index.js';
import { EchoApp } from '../../fixtures/discovery/echo-app.launcher.js';
import { nextValue, waitFor, within } from '../../support/index.js';
import { registryOf, startApp } from '../../support/registry-test-app.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';

/** Requests per second the caller keeps sending during the restart. */
const RATE = 100;
/** Bound of one request through registry.fetch, response body included. */
const REQUEST_BOUND_MS = 15_000;

// Instances are child processes (each one is stopped with SIGTERM); the caller is in-process.
describe('zero-error rolling restart through registry.fetch', () => {
  const suite = useEtcdSuite({ buildLib: true });
  const { apps } = suite;

  // Each instance stops the recommended way (docs/registry.md §12): SIGTERM, deregistration,
  // drainDelay 500 ms while it still answers, then its server closes; callers retry GETs that
  // meet a closing connection.
  it('3 instances replaced one at a time under >= 50 requests/s: 0 failed requests', async () => {
    const service = 'rolling';
    const caller = await startApp({ hosts: suite.etcd.endpoint });
    apps.push(caller);
    const registry = registryOf(caller);
    const instances$ = registry.instances$(service);
    const ids = (list: ServiceInstance[]) => list.map(i => i.instanceId).sort();
    const start = (id: string) =>
      EchoApp.start({
        hosts: suite.etcd.endpoint,
        serviceName: service,
        instanceId: id,
        drainDelay: 500,
      });

    let old = await Promise.all(['old-1', 'old-2', 'old-3'].map(start));
    await nextValue(instances$, list => ids(list).join() === 'old-1,old-2,old-3', 10_000);

    // The load: RATE requests/s, paced on elapsed time (a late timer tick catches up), each one
    // a GET through registry.fetch that must come back 200 with the answering instance's id.
    const answeredBy = new Map<string, number>();
    const failures: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let sent = 0;
    const loadStart = Date.now();
    const one = async () => {
      try {
        // timeout bounds the wait for headers; the signal bounds the whole request, body included,
        // so a stuck request fails by name instead of holding the test past jest's timeout
        const res = await registry.fetch(service, '/', {
          timeout: 5000,
          signal: AbortSignal.timeout(REQUEST_BOUND_MS),
        });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
        const id = (JSON.parse(text) as { instanceId: string }).instanceId;
        answeredBy.set(id, (answeredBy.get(id) ?? 0) + 1);
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
    };
    const ticker = setInterval(() => {
      const due = Math.floor(((Date.now() - loadStart) * RATE) / 1000);
      while (sent < due) {
        sent++;
        const p = one().finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
    }, 5);

    try {
      const replacements: EchoApp[] = [];
      for (let i = 0; i < old.length; i++) {
        const victim = old[i]!;
        const next = await start(`new-${i + 1}`);
        replacements.push(next);
        await nextValue(instances$, list => ids(list).includes(next.instanceId), 10_000);
        const gone = nextValue(instances$, list => !ids(list).includes(victim.instanceId), 10_000);
        victim.terminate();
        const exit = await within(victim.exited, 20_000, `${victim.instanceId} exit after SIGTERM`);
        // Nest re-raises the signal once its shutdown hooks ran: a graceful stop, not a crash.
        expect(exit.signal ?? exit.code).toBe('SIGTERM');
        await gone;
      }
      old = replacements;
      // keep the load on the new set until each new instance has answered part of it
      await waitFor(() => old.every(app => (answeredBy.get(app.instanceId) ?? 0) > 0), {
        timeout: 10_000,
        message: 'every new instance answering a request',
      }).catch(async (err: unknown) => {
        // what the load looked like, so a failure says why an instance never answered
        const answered = JSON.stringify(Object.fromEntries(answeredBy));
        const seen = JSON.stringify(ids(await registry.getInstances(service)));
        throw new Error(
          `${(err as Error).message}; answered: ${answered}; sent ${sent}, in flight ${inFlight.size}, ` +
            `failed ${failures.length} (first: ${failures.slice(0, 3).join(' | ')}); the caller lists ${seen}`,
        );
      });
    } finally {
      clearInterval(ticker);
      await within(
        Promise.all(inFlight),
        REQUEST_BOUND_MS + 5000,
        `the last ${inFlight.size} requests in flight to settle`,
      );
    }
    const seconds = (Date.now() - loadStart) / 1000;

    expect(failures).toEqual([]);
    expect(sent / seconds).toBeGreaterThanOrEqual(50);
    expect(sent).toBeGreaterThanOrEqual(100);
    // every instance of both generations answered part of the load
    expect([...answeredBy.keys()].sort()).toEqual([
      'new-1',
      'new-2',
      'new-3',
      'old-1',
      'old-2',
      'old-3',
    ]);
    expect([...answeredBy.values()].reduce((a, b) => a + b, 0)).toBe(sent);
    // Above jest's default: every wait in this test has its own bound and message (at most
    // 20 + 10 + 3 x (20 + 10 + 20 + 10) + 10 + 20 s), so a stuck step fails by its own name, never
    // by jest's timeout.
  }, 240_000);
});
