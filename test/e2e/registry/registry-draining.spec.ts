import 'reflect-metadata';
import { ChildApp } from '../../fixtures/registry/child-app.launcher.js';
import { nextValue, within } from '../../support/index.js';
import { registryOf, startApp } from '../../support/registry-test-app.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';

// registry.drainDelay: deregister first (callers stop choosing it), keep answering, then close.
describe('registry: draining on shutdown (registry.drainDelay)', () => {
  const suite = useEtcdSuite({ buildLib: true });
  const { apps } = suite;

  it('after SIGTERM the key disappears at once while the server still answers for drainDelay; in-flight requests finish', async () => {
    const drainDelay = 4_000;
    const observer = await startApp({ hosts: suite.etcd.endpoint });
    apps.push(observer);
    const instances$ = registryOf(observer).instances$('drain-svc');
    const child = await ChildApp.start({
      hosts: suite.etcd.endpoint,
      serviceName: 'drain-svc',
      instanceId: 'd-1',
      ttl: 30, // only the revoke on shutdown can remove the key within the bounds below
      env: { CHILD_DRAIN_DELAY: String(drainDelay) },
    });
    await nextValue(instances$, list => list.some(i => i.instanceId === 'd-1'), 10_000);
    const base = `http://127.0.0.1:${child.port}`;
    const inflight = fetch(`${base}/slow?ms=1500`);

    const removed = nextValue(instances$, list => list.length === 0, 5_000);
    child.signal('SIGTERM');
    await removed;
    expect(await suite.etcd.get('/services/drain-svc/d-1')).toBeUndefined();
    // The key is gone, the server still answers: callers that have not seen the removal yet are
    // served, not refused.
    const ping = await within(fetch(`${base}/ping`), 10_000, 'the draining child answered /ping');
    expect(await ping.text()).toBe('pong');
    expect(child.running).toBe(true);
    // A request that was in flight when the signal came finishes normally.
    const slow = await within(inflight, 15_000, 'the in-flight /slow?ms=1500 request answered');
    expect(slow.status).toBe(200);
    expect(await slow.text()).toBe('slow');

    const exit = await within(child.exited, 20_000, 'child exit after SIGTERM');
    expect(exit.signal).toBe('SIGTERM');
    expect(
      child.lines.filter(line => line.includes(`draining: waiting ${drainDelay} ms`)),
    ).toHaveLength(1);
  });

  it('without drainDelay the server closes right after the key is removed (no drain line)', async () => {
    const child = await ChildApp.start({
      hosts: suite.etcd.endpoint,
      serviceName: 'drain-svc',
      instanceId: 'd-2',
      ttl: 30,
    });
    child.signal('SIGTERM');
    expect((await within(child.exited, 20_000, 'child exit after SIGTERM')).signal).toBe('SIGTERM');
    expect(await suite.etcd.get('/services/drain-svc/d-2')).toBeUndefined();
    expect(child.log).not.toMatch(/draining/);
  });
});
