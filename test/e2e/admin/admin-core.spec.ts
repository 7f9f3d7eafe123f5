import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, toArray } from 'rxjs';
import {
  ConfigConflictError,
  ConfigKeyOutsidePrefixError,
  ConfigValidationError,
  EtcdAdmin,
  UnknownServiceError,
  type RolloutEvent,
} from '../../../lib/admin/index.js';
import { EtcdConnectionError } from '../../../lib/index.js';
import { z } from 'zod';
import { ordersV1, ordersV2, publishSchema, writeStatus } from '../../support/admin-test-kit.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';
import { expectDuration, within } from '../../support/jest-helpers.js';

/**
 * The admin core against real etcd, with status keys written the way instances write them: the
 * rules (layers, schemas, CAS, apply sets, audit) without app processes. The story with real
 * instances is test/e2e/cli/.
 */
describe('EtcdAdmin (real etcd, hand-written status keys)', () => {
  const suite = useEtcdSuite();
  let admin: EtcdAdmin;
  let v1: string;
  let v2: string;

  beforeAll(async () => {
    admin = await EtcdAdmin.connect({ hosts: suite.etcd.endpoint, actor: 'tester' });
    v1 = await publishSchema(suite.etcd, ordersV1);
    v2 = await publishSchema(suite.etcd, ordersV2);
  });
  afterAll(async () => {
    await admin?.close();
  });
  beforeEach(async () => {
    for (const prefix of [
      '/config/',
      '/config-status/',
      '/services/',
      '/config-audit/',
      '/config-applysets/',
    ]) {
      await suite.etcd.del(prefix, { prefix: true });
    }
    await writeStatus(suite.etcd, 'orders', {
      instanceId: 'a',
      keys: { 'limits.json': { schema: v1 } },
    });
    await writeStatus(suite.etcd, 'orders', {
      instanceId: 'b',
      keys: { 'limits.json': { schema: v1 } },
    });
    await writeStatus(suite.etcd, 'orders', {
      instanceId: 'c',
      profiles: ['canary'],
      keys: { 'limits.json': { schema: v2 } },
    });
  });

  it('lists services, instances and statuses', async () => {
    expect(await admin.services()).toEqual([
      { name: 'orders', instances: 3, reporting: 3, rejecting: 0 },
    ]);
    const instances = await admin.instances('orders');
    expect(instances.map(i => [i.instanceId, i.configRevision])).toEqual([
      ['a', 0],
      ['b', 0],
      ['c', 0],
    ]);
    const status = await admin.status('orders');
    expect(status.map(s => s.profiles)).toEqual([[], [], ['canary']]);
    await expect(admin.status('payments')).rejects.toThrow(UnknownServiceError);
    await expect(admin.status('payments')).rejects.toThrow(/known: orders/);
  });

  it('validate names the instance whose schema rejects the value, and why', async () => {
    const report = await admin.validate('orders', 'limits.json', '{"max": 5}');
    expect(report.ok).toBe(false);
    expect(report.instances.filter(v => !v.ok)).toEqual([
      expect.objectContaining({
        instanceId: 'c',
        schema: v2,
        reason: expect.stringMatching(/currency/),
      }),
    ]);
    const all = await admin.validate('orders', 'limits.json', '{"max": 5, "currency": "EUR"}');
    expect(all.ok).toBe(true);
    expect(all.instances).toHaveLength(3);
  });

  it('format errors, keys outside the prefix and unknown services are refused before anything is written', async () => {
    const bad = await admin.validate('orders', 'limits.json', '{"max": ');
    expect(bad).toMatchObject({
      ok: false,
      formatError: expect.stringMatching(/invalid JSON/),
      instances: [],
    });
    await expect(admin.put('orders', 'limits.json', '{"max": ')).rejects.toThrow(
      ConfigValidationError,
    );
    await expect(admin.put('orders', '/elsewhere/limits.json', '{}')).rejects.toThrow(
      ConfigKeyOutsidePrefixError,
    );
    await expect(admin.put('nobody', 'limits.json', '{}')).rejects.toThrow(UnknownServiceError);
    expect(await suite.etcd.getPrefix('/config/')).toEqual(new Map());
    expect(await suite.etcd.getPrefix('/config-audit/')).toEqual(new Map());
  });

  it('affected follows the layers: a profile overlay reaches only its instances, a higher layer shadows, documents merge', async () => {
    const canary = await admin.affected('orders', '/config/@canary/limits.json');
    expect(canary.map(a => [a.instanceId, a.layer, a.profile])).toEqual([
      ['c', 'profile', 'canary'],
    ]);
    // a document under a profile merges: the base still reaches c, merged under its overlay
    await suite.etcd.put('/config/@canary/limits.json', '{"currency": "USD"}');
    const base = await admin.affected('orders', '/config/limits.json');
    expect(base.map(a => [a.instanceId, a.shadowedBy])).toEqual([
      ['a', undefined],
      ['b', undefined],
      ['c', undefined],
    ]);
    // {"max": 5} alone lacks v2's currency, merged under c's overlay it has it
    expect((await admin.validate('orders', 'limits.json', '{"max": 5}')).ok).toBe(true);
    // any other key: the overlay replaces the base for c, which never sees the base value
    await suite.etcd.put('/config/@canary/mode', 'fast');
    const mode = await admin.affected('orders', '/config/mode');
    expect(mode.find(a => a.instanceId === 'c')?.shadowedBy).toBe('/config/@canary/mode');
  });

  it('a key inside a folder key is checked as the folder the instance assembles', async () => {
    const pool = await publishSchema(
      suite.etcd,
      z.object({ max: z.number().int().positive(), idle: z.number().optional() }),
    );
    await writeStatus(suite.etcd, 'orders', {
      instanceId: 'f',
      keys: { 'pool/': { schema: pool } },
    });
    await suite.etcd.put('/config/pool/idle', '3');
    const ok = await admin.validate('orders', 'pool/max', '8');
    expect(ok.instances.find(v => v.instanceId === 'f')).toMatchObject({ ok: true, schema: pool });
    const bad = await admin.validate('orders', 'pool/max', '-1');
    expect(bad.instances.find(v => v.instanceId === 'f')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^max: /),
    });
    // the folder's other keys count: a bad sibling already in etcd makes any leaf write invalid
    await suite.etcd.put('/config/pool/idle', '"many"');
    const sibling = await admin.validate('orders', 'pool/max', '8');
    expect(sibling.instances.find(v => v.instanceId === 'f')?.reason).toMatch(/^idle: /);
  });

  it('put validates, writes with compare-and-swap, records an audit; a conflict names both revisions', async () => {
    await expect(admin.put('orders', 'limits.json', '{"max": 5}')).rejects.toThrow(
      /instance c rejects it: .*currency/,
    );
    const forced = await admin.put('orders', 'limits.json', '{"max": 5}', { force: true });
    expect(await suite.etcd.get('/config/limits.json')).toBe('{"max": 5}');
    expect(forced.previousRevision).toBe(0);
    const put = await admin.put('orders', 'limits.json', '{"max": 6, "currency": "EUR"}', {
      expectRevision: forced.revision,
      actor: 'alice',
    });
    expect(put.previousRevision).toBe(forced.revision);
    const conflict = admin.put('orders', 'limits.json', '{"max": 7, "currency": "EUR"}', {
      expectRevision: forced.revision,
    });
    await expect(conflict).rejects.toThrow(ConfigConflictError);
    await expect(conflict).rejects.toMatchObject({
      expectedRevision: forced.revision,
      actualRevision: put.revision,
    });
    const audit = await admin.audit('orders');
    expect(audit.map(a => [a.actor, a.action, a.newRevision, a.forced])).toEqual([
      ['alice', 'put', put.revision, undefined],
      ['tester', 'put', forced.revision, true],
    ]);
  });

  it('delete drops a profile overlay (CAS, audit), refuses a base key an instance serves with a schema', async () => {
    await suite.etcd.put('/config/limits.json', '{"max": 5, "currency": "EUR"}');
    await suite.etcd.put('/config/@canary/limits.json', '{"max": 9, "currency": "EUR"}');
    await expect(
      admin.delete('orders', 'limits.json', { profile: 'canary', expectRevision: 1 }),
    ).rejects.toThrow(ConfigConflictError);
    const overlay = await admin.get('orders', 'limits.json', { profile: 'canary' });
    const dropped = await admin.delete('orders', 'limits.json', {
      profile: 'canary',
      expectRevision: overlay.revision,
      actor: 'bob',
    });
    expect(dropped.previousRevision).toBe(overlay.revision);
    expect(dropped.affected.map(a => a.instanceId)).toEqual(['c']);
    expect(await suite.etcd.get('/config/@canary/limits.json')).toBeUndefined();
    await expect(admin.delete('orders', 'limits.json', { profile: 'canary' })).rejects.toThrow(
      /nothing to delete/,
    );
    // The base key: every instance serves it with a schema; refused, nothing deleted.
    await expect(admin.delete('orders', 'limits.json')).rejects.toThrow(
      /instance a rejects it: it serves limits.json from this key with schema/,
    );
    expect(await suite.etcd.get('/config/limits.json')).toBe('{"max": 5, "currency": "EUR"}');
    await expect(admin.delete('orders', '/elsewhere/limits.json')).rejects.toThrow(
      ConfigKeyOutsidePrefixError,
    );
    const audit = await admin.audit('orders');
    expect(audit.map(a => [a.actor, a.action, a.etcdKey])).toEqual([
      ['bob', 'delete', '/config/@canary/limits.json'],
    ]);
  });

  it('history and rollback (with the diff), rollback to before the key existed is refused', async () => {
    const first = await admin.put('orders', 'history.json', '{"max": 1, "currency": "EUR"}');
    const second = await admin.put('orders', 'history.json', '{"max": 2, "currency": "EUR"}');
    const history = await admin.history('orders', 'history.json');
    expect(history.map(h => [h.revision, h.deleted, h.decodes, h.audit?.actor])).toEqual([
      [second.revision, false, true, 'tester'],
      [first.revision, false, true, 'tester'],
    ]);
    const back = await admin.rollback('orders', 'history.json', first.revision, { actor: 'bob' });
    expect(back.restoredRevision).toBe(first.revision);
    expect(back.diff.filter(l => l.op !== ' ')).toEqual([
      { op: '-', text: '{"max": 2, "currency": "EUR"}' },
      { op: '+', text: '{"max": 1, "currency": "EUR"}' },
    ]);
    expect(await suite.etcd.get('/config/history.json')).toBe('{"max": 1, "currency": "EUR"}');
    await expect(admin.rollback('orders', 'history.json', first.revision - 1)).rejects.toThrow(
      /no value at revision/,
    );
    await suite.etcd.del('/config/history.json');
    const withDelete = await admin.history('orders', 'history.json', { limit: 3 });
    expect(withDelete.map(h => h.deleted)).toEqual([true, false, false]);
  });

  it('diff and apply a folder; prune deletes only what an earlier apply created', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'admin-apply-'));
    try {
      await mkdir(join(dir, 'db'));
      await writeFile(join(dir, 'limits.json'), '{"max": 3, "currency": "USD"}\n');
      await writeFile(join(dir, 'db', 'url'), 'postgres://db\n');
      await suite.etcd.put('/config/manual', 'by hand');
      const diff = await admin.diff('orders', dir);
      expect(diff.changed).toBe(true);
      expect(diff.changes.map(c => [c.etcdKey, c.action])).toEqual([
        ['/config/db/url', 'create'],
        ['/config/limits.json', 'create'],
      ]);
      const applied = await admin.apply('orders', dir);
      expect(applied.revisions).toHaveLength(1);
      expect((await admin.diff('orders', dir)).changed).toBe(false);
      await rm(join(dir, 'db'), { recursive: true });
      const pruneDiff = await admin.diff('orders', dir, { prune: true });
      expect(pruneDiff.changes.map(c => [c.etcdKey, c.action])).toEqual([
        ['/config/db/url', 'delete'],
        ['/config/limits.json', 'unchanged'],
      ]);
      const dry = await admin.apply('orders', dir, { prune: true, dryRun: true });
      expect(dry.revisions).toEqual([]);
      expect(await suite.etcd.get('/config/db/url')).toBe('postgres://db\n');
      await admin.apply('orders', dir, { prune: true });
      expect([...(await suite.etcd.getPrefix('/config/')).keys()]).toEqual([
        '/config/limits.json',
        '/config/manual',
      ]);
      await writeFile(join(dir, 'limits.json'), '{"max": 3');
      await expect(admin.apply('orders', dir)).rejects.toThrow(/limits.json: invalid JSON/);
      await writeFile(join(dir, 'limits.json'), '{"max": 4}');
      await expect(admin.apply('orders', dir)).rejects.toThrow(/instance c rejects it/);
      expect(await suite.etcd.get('/config/limits.json')).toBe('{"max": 3, "currency": "USD"}\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('apply writes one txn per 127 keys (+ its apply set record)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'admin-apply-many-'));
    try {
      for (let i = 0; i < 300; i++)
        await writeFile(join(dir, `k${String(i).padStart(3, '0')}`), `${i}`);
      const applied = await admin.apply('orders', dir);
      expect(applied.revisions).toHaveLength(3);
      expect((await suite.etcd.getPrefix('/config/')).size).toBe(300);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rollout$ emits each instance as its status reaches the revision', async () => {
    const put = await admin.put('orders', 'limits.json', '{"max": 5}', { force: true });
    const events: RolloutEvent[] = [];
    const done = firstValueFrom(
      admin.rollout$('orders', put.etcdKey, put.revision, { timeoutMs: 20_000 }).pipe(toArray()),
    );
    const sub = admin
      .rollout$('orders', put.etcdKey, put.revision, { timeoutMs: 20_000 })
      .subscribe(e => events.push(e));
    try {
      await writeStatus(suite.etcd, 'orders', {
        instanceId: 'a',
        revision: put.revision,
        keys: { 'limits.json': { schema: v1, revision: put.revision, state: 'applied' } },
      });
      await writeStatus(suite.etcd, 'orders', {
        instanceId: 'c',
        profiles: ['canary'],
        revision: put.revision,
        keys: {
          'limits.json': {
            schema: v2,
            revision: 0,
            state: 'rejected',
            rejectedRevision: put.revision,
            reason: 'currency: Required',
          },
        },
      });
      await suite.etcd.del('/config-status/orders/b');
      // rollout$ ends itself after its timeoutMs (20 s); this bounds a rollout$ that never completes
      const all = await within(done, 30_000, 'rollout$ completed');
      expect(all.map(e => [e.instanceId, e.state]).sort()).toEqual([
        ['a', 'applied'],
        ['b', 'gone'],
        ['c', 'rejected'],
      ]);
      expect(all.find(e => e.instanceId === 'c')?.reason).toBe('currency: Required');
    } finally {
      sub.unsubscribe();
    }
  });

  it('rollout$ reports timeout for instances that never report', async () => {
    const put = await admin.put('orders', 'limits.json', '{"max": 5, "currency": "EUR"}');
    const events = await firstValueFrom(
      admin.rollout$('orders', put.etcdKey, put.revision, { timeoutMs: 300 }).pipe(toArray()),
    );
    expect(events.map(e => e.state)).toEqual(['timeout', 'timeout', 'timeout']);
  });

  it('connect fails with EtcdConnectionError within connectTimeout when etcd is unreachable', async () => {
    const started = Date.now();
    await expect(
      EtcdAdmin.connect({ hosts: 'http://127.0.0.1:1', connectTimeout: 1000 }),
    ).rejects.toThrow(EtcdConnectionError);
    // connectTimeout 1 s; 15 s leaves room for a loaded machine.
    expectDuration(
      Date.now() - started,
      15_000,
      'EtcdAdmin.connect to an unreachable etcd (connectTimeout 1 s)',
    );
  });
});
