import 'reflect-metadata';
import type { ServiceInstance } from '../../../lib/index.js';
import { ChildApp } from '../../fixtures/registry/child-app.launcher.js';
import { nextValue, waitFor, within } from '../../support/index.js';
import { registryOf, startApp } from '../../support/registry-test-app.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';

// Apps run as child processes here, because a process has to die (SIGTERM, kill -9).
describe('registry: instances in child processes (SIGTERM, kill -9)', () => {
  const suite = useEtcdSuite({ buildLib: true });
  const { apps } = suite;

  const ids = (list: ServiceInstance[]) => list.map(i => i.instanceId).sort();

  it('SIGTERM with enableShutdownHooks: the key is gone when the process exits, observers see it at once', async () => {
    const observer = await startApp({ hosts: suite.etcd.endpoint });
    apps.push(observer);
    const instances$ = registryOf(observer).instances$('term-svc');
    // A TTL far longer than the bounds below: only an explicit revoke can pass this test.
    const child = await ChildApp.start({
      hosts: suite.etcd.endpoint,
      serviceName: 'term-svc',
      instanceId: 'term-1',
      ttl: 30,
    });
    const key = '/services/term-svc/term-1';
    const seen = await nextValue(instances$, list => ids(list).includes('term-1'), 10_000);
    expect(seen.find(i => i.instanceId === 'term-1')?.port).toBe(child.port);
    expect(child.port).toBeGreaterThan(0);

    const removed = nextValue(instances$, list => !ids(list).includes('term-1'), 8_000);
    child.signal('SIGTERM');
    const exit = await within(child.exited, 15_000, 'child exit after SIGTERM');
    // Nest re-raises the signal after its shutdown hooks ran: proof that the hooks completed.
    expect(exit.signal ?? exit.code).toBe('SIGTERM');
    // Every status the child reported, in order: registering from the start, then registered,
    // and its deregistration last.
    expect(child.lines.filter(line => line.startsWith('STATUS '))).toEqual([
      'STATUS registering',
      'STATUS registered',
      'STATUS deregistered',
    ]);
    expect(await suite.etcd.get(key)).toBeUndefined();
    expect(ids(await removed)).toEqual([]);
  });

  it('kill -9: the key expires within TTL + 2 s and observers see the removal', async () => {
    const ttl = 3;
    const observer = await startApp({ hosts: suite.etcd.endpoint });
    apps.push(observer);
    const instances$ = registryOf(observer).instances$('crash-svc');
    const [victim, survivor] = await Promise.all([
      ChildApp.start({
        hosts: suite.etcd.endpoint,
        serviceName: 'crash-svc',
        instanceId: 'victim',
        ttl,
      }),
      ChildApp.start({
        hosts: suite.etcd.endpoint,
        serviceName: 'crash-svc',
        instanceId: 'survivor',
        ttl,
      }),
    ]);
    await nextValue(instances$, list => ids(list).join() === 'survivor,victim', 10_000);
    expect(await suite.etcd.get('/services/crash-svc/victim')).toBeDefined();

    const bound = (ttl + 2) * 1000;
    const removed = nextValue(instances$, list => ids(list).join() === 'survivor', bound + 1000);
    victim.signal('SIGKILL');
    const killedAt = Date.now();
    expect((await within(victim.exited, 10_000, 'victim exit after SIGKILL')).signal).toBe(
      'SIGKILL',
    );
    await waitFor(async () => (await suite.etcd.get('/services/crash-svc/victim')) === undefined, {
      timeout: bound - (Date.now() - killedAt),
      interval: 100,
      message: 'the killed instance key did not expire within TTL + 2 s',
    });
    expect(ids(await removed)).toEqual(['survivor']);
    // The survivor kept heart-beating through all this.
    expect(await suite.etcd.get('/services/crash-svc/survivor')).toBeDefined();
    expect(survivor.running).toBe(true);
  });
});
