import { EtcdAdmin, UnknownServiceError } from '../../../lib/admin/index.js';
import { ordersV1, publishSchema, writeStatus } from '../../support/admin-test-kit.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';
import { etcdMetric } from '../../support/informer-test-kit.js';
import { waitFor } from '../../support/jest-helpers.js';

/** What an admin answers about the fleet, lease TTL left aside (it ticks between two calls). */
async function answers(admin: EtcdAdmin): Promise<unknown> {
  return {
    services: await admin.services(),
    instances: (await admin.instances('orders')).map(({ leaseTtlLeft: _, ...row }) => row),
    status: await admin.status('orders'),
    affected: await admin.affected('orders', '/config/@canary/limits.json'),
    unknown: await admin.status('payments').catch((err: unknown) => err),
  };
}

/**
 * `watchFleet: true` (the console's admin): the same answers as an admin that reads etcd on every
 * call, kept current by informers, without a Range of the fleet per call once they listed.
 */
describe('EtcdAdmin with a live fleet view (watchFleet)', () => {
  const suite = useEtcdSuite();
  let direct: EtcdAdmin | undefined;
  let live: EtcdAdmin | undefined;

  afterAll(async () => {
    await live?.close();
    await direct?.close();
  });

  it('answers as the direct reader, follows changes, and reads no Range per call once synced', async () => {
    const schema = await publishSchema(suite.etcd, ordersV1);
    for (const instanceId of ['a', 'b']) {
      await writeStatus(suite.etcd, 'orders', { instanceId, keys: { 'limits.json': { schema } } });
    }
    await writeStatus(suite.etcd, 'orders', {
      instanceId: 'c',
      profiles: ['canary'],
      keys: { 'limits.json': { schema, state: 'rejected', reason: 'max: too big' } },
    });
    await writeStatus(suite.etcd, 'billing', { instanceId: 'x' }, { registered: false });
    direct = await EtcdAdmin.connect({ hosts: suite.etcd.endpoint });
    live = await EtcdAdmin.connect({ hosts: suite.etcd.endpoint, watchFleet: true });

    // The first call (the informers have not listed yet) and every later one: the same answers.
    const expected = await answers(direct);
    expect((expected as { unknown: unknown }).unknown).toBeInstanceOf(UnknownServiceError);
    expect(await answers(live)).toEqual(expected);

    // A new instance and a changed status reach the view through its watch.
    await writeStatus(suite.etcd, 'orders', { instanceId: 'd', revision: 7 });
    await suite.etcd.del('/services/orders/b');
    const changed = await answers(direct);
    await waitFor(async () => JSON.stringify(await answers(live!)) === JSON.stringify(changed), {
      timeout: 10_000,
      message: 'the live view shows instance d and no registration of b',
    });
    expect(await answers(live)).toEqual(changed);

    // Synced: fleet reads come from memory (etcd counts no Range for them).
    const ranges = () => etcdMetric(suite.etcd.clientPort, 'etcd_debugging_mvcc_range_total');
    const before = await ranges();
    for (let i = 0; i < 10; i++) {
      await live.status('orders');
      await live.services();
    }
    expect(await ranges()).toBe(before);
    const directBefore = await ranges();
    await direct.status('orders');
    expect(await ranges()).toBeGreaterThan(directBefore);

    // close() stops the informers before the client (no watch left to break when etcd stops).
    await live.close();
    live = undefined;
  });

  it("serves a key's history again from what it read while the key has not moved, and follows every later put and delete", async () => {
    const schema = await publishSchema(suite.etcd, ordersV1);
    await writeStatus(suite.etcd, 'orders', {
      instanceId: 'h',
      keys: { 'limits.json': { schema } },
    });
    const reader = await EtcdAdmin.connect({ hosts: suite.etcd.endpoint });
    const cached = await EtcdAdmin.connect({ hosts: suite.etcd.endpoint, watchFleet: true });
    try {
      const revisions = async (admin: EtcdAdmin) =>
        (await admin.history('orders', 'limits.json')).map(e => [e.revision, e.deleted, e.text]);
      await suite.etcd.put('/config/limits.json', '{"max": 1, "currency": "EUR"}');
      await suite.etcd.put('/config/limits.json', '{"max": 2, "currency": "EUR"}');
      expect(await revisions(cached)).toEqual(await revisions(reader));
      expect(await revisions(cached)).toEqual(await revisions(reader)); // the second read: cached
      await suite.etcd.put('/config/limits.json', '{"max": 3, "currency": "EUR"}');
      const afterPut = await revisions(reader);
      expect(afterPut[0]?.[2]).toBe('{"max": 3, "currency": "EUR"}');
      expect(await revisions(cached)).toEqual(afterPut);
      await suite.etcd.del('/config/limits.json');
      expect(await revisions(cached)).toEqual(await revisions(reader)); // absent: never cached
      await suite.etcd.put('/config/limits.json', '{"max": 4, "currency": "EUR"}');
      const again = await revisions(reader);
      expect(again.some(([, deleted]) => deleted === true)).toBe(true);
      expect(await revisions(cached)).toEqual(again);
    } finally {
      await cached.close();
      await reader.close();
    }
  });
});
