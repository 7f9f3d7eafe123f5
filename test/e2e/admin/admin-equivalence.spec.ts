import type { INestApplication } from '@nestjs/common';
import { Etcd3 } from 'etcd3';
import {
  type Observable,
  ReplaySubject,
  filter,
  firstValueFrom,
  map,
  merge,
  skip,
  timeout,
} from 'rxjs';
import { EtcdAdmin } from '../../../lib/admin/index.js';
import { EtcdConfigService, EtcdModule } from '../../../lib/index.js';
import { EquivalenceValues, equivalenceOptions } from '../../fixtures/admin/equivalence.module.js';
import { bootApp } from '../../support/config-test-kit.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';
import { waitFor } from '../../support/jest-helpers.js';

/** The values of the table: per key (one per format), texts the schema accepts and refuses. */
const TABLE: Record<string, string[]> = {
  'limits.json': [
    '{"max": 5, "currency": "EUR"}',
    '{"max": 5}',
    '{"max": 0, "currency": "EUR"}',
    '{"max": 2.5, "currency": "USD"}',
    '{"max": 5, "currency": "EUR", "extra": true}',
    '{"max": 5,',
    '[1, 2]',
    'null',
  ],
  'db.yaml': [
    'host: db\nport: 5432\n',
    'host: db\nport: "5432"\n',
    'host: ""\nport: 1\n',
    'host: db\nport: 70000\n',
    'host: db\nport: 5432\ntags: [a, b]\n',
    'host: db\nport: 5432\ntags: [a, 1]\n',
    'host: db\nport: [1, 2',
    'host: db\nport: 0x10\n',
  ],
  mode: ['fast', '"safe"', 'slow', '42', ' fast', '["fast"]'],
  level: ['3', '11', '"3"', 'three', '3.0', '1e1', '-1', ''],
};

/** The layers of the `eq` instance, as etcd key prefixes. */
const LAYERS = { prefix: '/config/', shared: '/shared/', profile: '/config/@canary/' } as const;

/**
 * A value the admin core calls valid is never rejected by an instance with the same schema, and
 * the reverse: each value of the table, at each layer, is checked by EtcdAdmin.validate (the
 * published JSON Schema), by the instance's own config.validate, and by the instance itself when
 * the value is really put (accepted -> a change, refused -> a rejection, at that revision).
 */
describe('EtcdAdmin.validate agrees with the instances (both directions)', () => {
  const suite = useEtcdSuite();
  let app: INestApplication | undefined;
  let admin: EtcdAdmin | undefined;
  let writer: Etcd3 | undefined;

  afterAll(async () => {
    await admin?.close();
    writer?.close();
    await app?.close();
  });

  it('on a table of values x formats (json, yaml, auto) x layers (prefix, shared, profile)', async () => {
    app = await bootApp({
      imports: [EtcdModule.forRoot(equivalenceOptions(suite.etcd.endpoint))],
      providers: [EquivalenceValues],
    });
    const config = app.get(EtcdConfigService);
    admin = await EtcdAdmin.connect({ hosts: suite.etcd.endpoint });
    writer = new Etcd3({ hosts: suite.etcd.endpoint });
    await waitFor(
      async () => {
        const [status] = await admin!.status('eq');
        return Object.keys(TABLE).every(key => status?.keys[key]?.schema);
      },
      { timeout: 30_000, message: 'the status of eq-1 with a schema for every key' },
    );

    const rows: string[] = [];
    const mismatches: string[] = [];
    for (const [layerName, layer] of Object.entries(LAYERS)) {
      for (const [key, texts] of Object.entries(TABLE)) {
        for (const text of texts) {
          const etcdKey = `${layer}${key}`;
          const report = await admin.validate('eq', etcdKey, text);
          const verdict = report.instances.find(v => v.instanceId === 'eq-1');
          const adminOk = report.ok && verdict !== undefined && verdict.ok && !verdict.shadowedBy;
          const ownOk = config.validate(key, text).ok;
          const liveOk = await putAndObserve(config, writer, key, etcdKey, text);
          const row = `${layerName} ${key} ${JSON.stringify(text)}: admin ${adminOk} validate ${ownOk} live ${liveOk}`;
          rows.push(row);
          if (adminOk !== liveOk || ownOk !== liveOk) mismatches.push(row);
          await writer.delete().key(etcdKey);
        }
      }
    }
    // Documents under the active profile merge (an overlay of limits.json merged into the base
    // document): an overlay is checked merged into the base, a base merged under the overlay.
    const merge = async (etcdKey: string, text: string, label: string) => {
      const report = await admin!.validate('eq', etcdKey, text);
      const verdict = report.instances.find(v => v.instanceId === 'eq-1');
      const adminOk = report.ok && verdict !== undefined && verdict.ok && !verdict.shadowedBy;
      const liveOk = await putAndObserve(config, writer!, 'limits.json', etcdKey, text);
      const row = `${label} ${JSON.stringify(text)}: admin ${adminOk} live ${liveOk}`;
      rows.push(row);
      if (adminOk !== liveOk) mismatches.push(row);
    };
    await writer.put('/config/limits.json').value('{"max": 5, "currency": "EUR"}').exec();
    for (const text of ['{"max": 6}', '{"max": 0}', '{"currency": "GBP"}', '{"extra": 1}']) {
      await merge('/config/@canary/limits.json', text, 'merge overlay');
    }
    await writer.put('/config/@canary/limits.json').value('{"currency": "USD"}').exec();
    for (const text of [
      '{"max": 7}',
      '{"max": -1, "currency": "EUR"}',
      '{"currency": "EUR"}',
      '[1]',
    ]) {
      await merge('/config/limits.json', text, 'merge base');
    }
    await writer.delete().prefix('/config/').exec();
    const mergeRows = rows.filter(r => r.startsWith('merge '));
    expect(mergeRows.filter(r => r.endsWith('live true'))).toHaveLength(3);

    // A folder key (`pool/`): a leaf written at each layer (lowest first, so none is shadowed) is
    // checked as the folder the instance assembles; the oracle is the folder's own ConfigValue.
    const values = app.get(EquivalenceValues);
    const leaves: Array<[keyof typeof LAYERS, string[]]> = [
      ['shared', ['1', '-1', '"2"', '3']],
      ['prefix', ['4', '0', '5.5', '6']],
      ['profile', ['7', 'x', '-8', '9']],
    ];
    for (const [layerName, texts] of leaves) {
      for (const text of texts) {
        const etcdKey = `${LAYERS[layerName]}pool/max`;
        const report = await admin.validate('eq', etcdKey, text);
        const verdict = report.instances.find(v => v.instanceId === 'eq-1');
        const adminOk = report.ok && verdict !== undefined && verdict.ok && !verdict.shadowedBy;
        const liveOk = await putInFolder(config, values.poolValue, writer, etcdKey, text);
        const row = `${layerName} pool/max ${JSON.stringify(text)}: admin ${adminOk} live ${liveOk}`;
        rows.push(row);
        if (adminOk !== liveOk) mismatches.push(row);
      }
    }
    expect(mismatches).toEqual([]);
    // Once the status lists the folder's child as a key of its own (it exists in etcd now), the
    // folder's schema still decides: the leaf has none of its own.
    await waitFor(
      async () => {
        const [status] = await admin!.status('eq');
        return status?.keys['pool/max'] !== undefined;
      },
      { timeout: 30_000, message: 'the status of eq-1 listing the folder child pool/max' },
    );
    const late = await admin.validate('eq', `${LAYERS.profile}pool/max`, '-8');
    expect(late.instances.find(v => v.instanceId === 'eq-1')).toMatchObject({ ok: false });
    const folderRows = rows.filter(r => r.includes(' pool/max '));
    expect(folderRows.filter(r => r.endsWith('live true'))).toHaveLength(6);
    expect(folderRows.filter(r => r.endsWith('live false'))).toHaveLength(6);
    // the table has both outcomes at every layer (so each direction is exercised)
    for (const layerName of Object.keys(LAYERS)) {
      expect(
        rows.filter(r => r.startsWith(`${layerName} `) && r.endsWith('live true')),
      ).not.toHaveLength(0);
      expect(
        rows.filter(r => r.startsWith(`${layerName} `) && r.endsWith('live false')),
      ).not.toHaveLength(0);
    }
  }, 120_000); // above its longest waits (30 s, stretched to 45 s when loaded) plus the rest
});

/** Puts `text` at `etcdKey` and resolves with whether the instance applied it (or rejected it). */
async function putAndObserve(
  config: EtcdConfigService,
  writer: Etcd3,
  key: string,
  etcdKey: string,
  text: string,
): Promise<boolean> {
  // the watch may deliver the change before the put's own answer: keep every outcome from now on
  const seen = new ReplaySubject<{ revision: number; applied: boolean }>();
  const subscription = merge(
    config.changes$.pipe(
      filter(c => c.key === key && c.type === 'put'),
      map(c => ({ revision: c.revision, applied: true })),
    ),
    config.rejections$.pipe(
      filter(r => r.key === key),
      map(r => ({ revision: r.revision, applied: false })),
    ),
  ).subscribe(seen);
  try {
    const res = await writer.put(etcdKey).value(text).exec();
    const revision = Number(res.header.revision);
    return await firstValueFrom(
      seen.pipe(
        filter(o => o.revision >= revision),
        map(o => o.applied),
        timeout({
          first: 15_000,
          with: () => {
            throw new Error(
              `no change nor rejection of ${etcdKey} within 15 s (bound of one put's propagation)`,
            );
          },
        }),
      ),
    );
  } finally {
    subscription.unsubscribe();
  }
}

/**
 * Puts a leaf of the `pool/` folder and resolves with whether the folder's ConfigValue took the new
 * assembly (it emits) or refused it (a rejection of `pool/` at that revision or later).
 */
async function putInFolder(
  config: EtcdConfigService,
  folder: Observable<unknown>,
  writer: Etcd3,
  etcdKey: string,
  text: string,
): Promise<boolean> {
  const seen = new ReplaySubject<{ revision: number; applied: boolean }>();
  const subscription = merge(
    // the current value comes first on subscribe: skipped; each later emission is an accepted change
    folder.pipe(
      skip(1),
      map(() => ({ revision: Number.POSITIVE_INFINITY, applied: true })),
    ),
    config.rejections$.pipe(
      filter(r => r.key === 'pool/'),
      map(r => ({ revision: r.revision, applied: false })),
    ),
  ).subscribe(seen);
  try {
    const res = await writer.put(etcdKey).value(text).exec();
    const revision = Number(res.header.revision);
    return await firstValueFrom(
      seen.pipe(
        filter(o => o.revision >= revision),
        map(o => o.applied),
        timeout({
          first: 15_000,
          with: () => {
            throw new Error(`no emission nor rejection of pool/ within 15 s after ${etcdKey}`);
          },
        }),
      ),
    );
  } finally {
    subscription.unsubscribe();
  }
}
