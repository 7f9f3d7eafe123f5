import 'reflect-metadata';
import { InformerPool } from '../../support/internals.js';
import type { ServiceInstance } from '../../../lib/index.js';
import { TcpProxy, nextValue, waitFor } from '../../support/index.js';
import { LogCapture } from '../../support/log-capture.js';
import { registryOf, startApp } from '../../support/registry-test-app.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';

describe('registry: discovery (plain writers, malformed values, shared informers, choose)', () => {
  const suite = useEtcdSuite();
  const { apps, closables: proxies } = suite;

  const ids = (list: ServiceInstance[]) => list.map(i => i.instanceId).sort();

  async function observer(hosts = suite.etcd.endpoint, extra = {}) {
    const logger = new LogCapture();
    const app = await startApp({ hosts, logger, extra });
    apps.push(app);
    return { app, registry: registryOf(app), logger };
  }

  it('a value written by a plain script as {"host", "port"} is a valid instance', async () => {
    await suite.etcd.put('/services/legacy/node-1', '{"host": "10.0.0.5", "port": 8080}');
    const { registry } = await observer();
    expect(await registry.getInstances('legacy')).toEqual([
      {
        serviceName: 'legacy',
        instanceId: 'node-1',
        host: '10.0.0.5',
        port: 8080,
        metadata: {},
        weight: 1,
      },
    ]);
    expect(await registry.choose('legacy')).toMatchObject({ host: '10.0.0.5', port: 8080 });
    expect(await registry.choose('nobody-home')).toBeUndefined();
  });

  it('malformed values are skipped with one warning each and never break the list', async () => {
    const base = '/services/mixed/';
    await suite.etcd.put(`${base}good-1`, '{"host":"127.0.0.1","port":9001}');
    const bad: Record<string, string> = {
      'not-json': 'hello world',
      'no-host': '{"port": 9002}',
      'no-port': '{"host": "127.0.0.1"}',
      'host-not-string': '{"host": ["a"], "port": 9003}',
      'port-not-number': '{"host": "127.0.0.1", "port": true}',
      'port-out-of-range': '{"host": "127.0.0.1", "port": 70000}',
      'array-value': '[1, 2]',
      'null-value': 'null',
      'bad-weight': '{"host": "127.0.0.1", "port": 9004, "weight": "heavy"}',
      'zone-a/nested': '{"host": "127.0.0.1", "port": 9005}',
    };
    for (const [id, value] of Object.entries(bad)) await suite.etcd.put(`${base}${id}`, value);

    const { registry, logger } = await observer();
    const warnings = () =>
      logger.matching('warn', /skipping registry key/, 'EtcdRegistry').map(l => l.message);
    // Two subscribers and getInstances share one parsed list: still one warning per key.
    const seen: ServiceInstance[][] = [];
    const sub = registry.instances$('mixed').subscribe(list => seen.push(list));
    try {
      expect(ids(await registry.getInstances('mixed'))).toEqual(['good-1']);
      expect(ids(await nextValue(registry.instances$('mixed')))).toEqual(['good-1']);
      expect(warnings()).toHaveLength(Object.keys(bad).length);
      for (const id of Object.keys(bad)) {
        expect(warnings().filter(line => line.includes(`${base}${id} `))).toHaveLength(1);
      }
      expect(warnings().find(line => line.includes('not-json'))).toMatch(/not JSON/);

      // A valid instance arriving later is listed; a malformed update of a valid key removes it
      // (with its warning) without touching the others.
      await suite.etcd.put(`${base}good-2`, '{"host":"127.0.0.1","port":9006}');
      await waitFor(() => ids(seen.at(-1) ?? []).join() === 'good-1,good-2', { timeout: 5_000 });
      await suite.etcd.put(`${base}good-1`, '{"host":');
      await waitFor(() => ids(seen.at(-1) ?? []).join() === 'good-2', { timeout: 5_000 });
      expect(warnings().filter(line => line.includes(`${base}good-1 `))).toHaveLength(1);
      // Fixing a malformed key brings it in.
      await suite.etcd.put(`${base}no-host`, '{"host":"127.0.0.1","port":9002}');
      await waitFor(() => ids(seen.at(-1) ?? []).join() === 'good-2,no-host', { timeout: 5_000 });
      expect(ids(await registry.getInstances('mixed'))).toEqual(['good-2', 'no-host']);
      expect(seen.every(list => list.length > 0)).toBe(true);
    } finally {
      sub.unsubscribe();
    }
  });

  it('one shared informer per service, current list first to every new subscriber', async () => {
    await suite.etcd.put('/services/shared/a', '{"host":"127.0.0.1","port":1001}');
    const { app, registry } = await observer();
    const pool = app.get(InformerPool);
    const first = registry.instances$('shared').subscribe();
    const second = registry.instances$('shared').subscribe();
    try {
      expect(ids(await registry.getInstances('shared'))).toEqual(['a']);
      expect(registry.instances$('shared')).toBe(registry.instances$('shared'));
      expect(pool.size).toBe(1);
      // A late subscriber gets the current list at once, without any change in etcd.
      expect(ids(await nextValue(registry.instances$('shared'), () => true, 1_000))).toEqual(['a']);
      await registry.getInstances('other');
      expect(pool.size).toBe(2);
    } finally {
      first.unsubscribe();
      second.unsubscribe();
    }
  });

  it('a disconnect never empties the list; a deletion made meanwhile shows once reconnected', async () => {
    await suite.etcd.put('/services/flaky/a', '{"host":"127.0.0.1","port":2001}');
    await suite.etcd.put('/services/flaky/b', '{"host":"127.0.0.1","port":2002}');
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: suite.etcd.clientPort });
    proxies.push(proxy);
    const { app, registry } = await observer(proxy.endpoint);
    const seen: ServiceInstance[][] = [];
    const sub = registry.instances$('flaky').subscribe(list => seen.push(list));
    try {
      await waitFor(() => ids(seen.at(-1) ?? []).join() === 'a,b', { timeout: 5_000 });
      const informer = app.get(InformerPool).peek('/services/flaky/');
      expect(informer).toBeDefined();
      // Make sure the watch stream is established (not only the first list) before cutting it.
      await suite.etcd.put('/services/flaky/c', '{"host":"127.0.0.1","port":2003}');
      await waitFor(() => ids(seen.at(-1) ?? []).join() === 'a,b,c', { timeout: 5_000 });
      await suite.etcd.del('/services/flaky/c');
      await waitFor(() => ids(seen.at(-1) ?? []).join() === 'a,b', { timeout: 5_000 });
      const before = seen.length;

      // A partition: existing connections are cut (RST) and new ones lead nowhere.
      proxy.blackhole();
      proxy.reset();
      await waitFor(() => informer?.state.connected === false, {
        timeout: 15_000,
        message: 'the informer did not notice the partition',
      });
      await suite.etcd.del('/services/flaky/b');
      expect(ids(await registry.getInstances('flaky'))).toEqual(['a', 'b']);
      expect(seen.slice(before - 1).every(list => ids(list).join() === 'a,b')).toBe(true);

      proxy.reset();
      proxy.heal();
      await waitFor(() => ids(seen.at(-1) ?? []).join() === 'a', {
        timeout: 15_000,
        message: 'the deletion made during the partition was not caught up',
      });
      expect(seen.every(list => ids(list).includes('a'))).toBe(true);
    } finally {
      sub.unsubscribe();
    }
  });

  it('choose: round-robin rotates exactly, weighted follows the weights, random reaches everyone', async () => {
    const weights: Record<string, number> = { 'w-a': 1, 'w-b': 3, 'w-c': 6 };
    for (const [id, weight] of Object.entries(weights)) {
      await suite.etcd.put(
        `/services/pick/${id}`,
        JSON.stringify({ host: id, port: 3000, weight }),
      );
    }
    const { registry } = await observer();
    expect(ids(await registry.getInstances('pick'))).toEqual(['w-a', 'w-b', 'w-c']);

    const rr: string[] = [];
    for (let i = 0; i < 9; i++) rr.push((await registry.choose('pick', 'round-robin'))!.instanceId);
    expect(rr).toEqual(['w-a', 'w-b', 'w-c', 'w-a', 'w-b', 'w-c', 'w-a', 'w-b', 'w-c']);
    // The default strategy is round-robin and continues the same rotation.
    expect((await registry.choose('pick'))!.instanceId).toBe('w-a');

    const picks = 5_000;
    const count = async (strategy: 'weighted' | 'random') => {
      const counts: Record<string, number> = { 'w-a': 0, 'w-b': 0, 'w-c': 0 };
      for (let i = 0; i < picks; i++)
        counts[(await registry.choose('pick', strategy))!.instanceId]!++;
      return counts;
    };
    const weighted = await count('weighted');
    for (const [id, weight] of Object.entries(weights)) {
      expect(Math.abs(weighted[id]! / picks - weight / 10)).toBeLessThan(0.04);
    }
    const random = await count('random');
    for (const id of Object.keys(weights)) {
      expect(Math.abs(random[id]! / picks - 1 / 3)).toBeLessThan(0.05);
    }

    // The rotation follows the live list: a new instance joins it.
    await suite.etcd.put('/services/pick/w-d', JSON.stringify({ host: 'w-d', port: 3000 }));
    await waitFor(async () => (await registry.getInstances('pick')).length === 4, {
      timeout: 5_000,
    });
    const seenIds = new Set<string>();
    for (let i = 0; i < 4; i++) seenIds.add((await registry.choose('pick'))!.instanceId);
    expect([...seenIds].sort()).toEqual(['w-a', 'w-b', 'w-c', 'w-d']);
    await expect(registry.choose('pick', 'fastest' as 'random')).rejects.toThrow(/strategy/);
  });
});
