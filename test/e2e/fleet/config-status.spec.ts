import 'reflect-metadata';
import { Injectable, type INestApplication } from '@nestjs/common';
import { z } from 'zod';
import { z as z3 } from 'zod/v3';
import {
  EtcdConfigService,
  EtcdModule,
  EtcdRegistryService,
  InjectConfig,
  canonicalJson,
  defineConfig,
  schemaHash,
  type ConfigStatus,
  type ConfigValueOf,
  type EtcdModuleOptions,
} from '../../../lib/index.js';
import { parseEtcdJson } from '../../support/etcd-server.js';
import { nextValue, waitFor } from '../../support/index.js';
import { bootApp, useConfigSuite } from '../../support/config-test-kit.js';
import { TEST_RETRY } from '../../support/nest-apps.js';

const orderSchema = z.object({ currency: z.string(), maxItems: z.number().int() });
const ordersConfig = defineConfig('orders.json', {
  schema: orderSchema,
  default: { currency: 'EUR', maxItems: 10 },
});
const legacyConfig = defineConfig('legacy.json', { schema: z3.object({ on: z3.boolean() }) });
const refinedConfig = defineConfig('refined', {
  schema: z.string().refine(s => s.startsWith('ok'), 'must start with ok'),
  default: 'ok',
});

@Injectable()
class OrdersSettings {
  constructor(
    @InjectConfig(ordersConfig) readonly orders: ConfigValueOf<typeof ordersConfig>,
    @InjectConfig(legacyConfig) readonly legacy: ConfigValueOf<typeof legacyConfig>,
    @InjectConfig(refinedConfig) readonly refined: ConfigValueOf<typeof refinedConfig>,
  ) {}
}

/** The bound on how soon a status follows a change (docs/cli.md: within a second); generous for a loaded machine. */
const FOLLOWS_MS = 5_000;

describe('config status per instance: /config-status/<service>/<instanceId>, live schemas', () => {
  const suite = useConfigSuite({ restartIfStopped: true, clearPrefix: '/', captureLogs: true });

  async function boot(
    instanceId: string,
    options: EtcdModuleOptions = {},
    track = true,
  ): Promise<INestApplication> {
    const booted = await bootApp({
      imports: [
        EtcdModule.forRoot({
          hosts: suite.etcd.endpoint,
          retry: TEST_RETRY,
          registry: { serviceName: 'orders', instanceId, host: '127.0.0.1', port: 8080, ttl: 10 },
          ...options,
        }),
      ],
      providers: [OrdersSettings],
    });
    const app = track ? suite.apps.track(booted) : booted;
    await nextValue(app.get(EtcdRegistryService).status$, s => s === 'registered', 10_000);
    return app;
  }

  async function readKey(
    key: string,
  ): Promise<{ value: string; lease: string; version: number; modRevision: number } | undefined> {
    const out = parseEtcdJson(await suite.etcd.etcdctl(['get', '-w', 'json', '--', key])) as {
      kvs?: Array<{
        value: string;
        lease?: string | number;
        version: number;
        mod_revision: number;
      }>;
    };
    const kv = out.kvs?.[0];
    if (!kv) return undefined;
    return {
      value: Buffer.from(kv.value, 'base64').toString('utf8'),
      lease: String(kv.lease ?? 0),
      version: Number(kv.version),
      modRevision: Number(kv.mod_revision),
    };
  }

  async function statusOf(instanceId: string): Promise<ConfigStatus | undefined> {
    const kv = await readKey(`/config-status/orders/${instanceId}`);
    return kv && (JSON.parse(kv.value) as ConfigStatus);
  }

  async function statusWhere(
    instanceId: string,
    predicate: (status: ConfigStatus) => boolean,
    what: string,
  ): Promise<ConfigStatus> {
    return (await waitFor(
      async () => {
        const status = await statusOf(instanceId);
        return status && predicate(status) ? status : undefined;
      },
      {
        timeout: FOLLOWS_MS,
        interval: 50,
        message: `status of ${instanceId}: ${what} within ${FOLLOWS_MS} ms`,
      },
    )) as ConfigStatus;
  }

  it('written under the registration lease with every served or declared key, the zod 4 schema published content-addressed', async () => {
    await suite.etcd.put('/config/orders.json', '{"currency":"USD","maxItems":5}');
    await suite.etcd.put('/config/plain', 'hello');
    const r = await suite.etcd.revision();
    await boot('web-1');

    const status = await statusWhere('web-1', s => s.revision >= r, 'first status');
    const hash = schemaHash(z.toJSONSchema(orderSchema, { io: 'input', unrepresentable: 'throw' }));
    expect(status).toEqual({
      serviceName: 'orders',
      instanceId: 'web-1',
      prefix: '/config/',
      shared: [],
      profiles: [],
      revision: r,
      keys: {
        'legacy.json': { revision: 0, source: '/config/legacy.json', state: 'applied' },
        'orders.json': {
          revision: r - 1,
          source: '/config/orders.json',
          state: 'applied',
          schema: hash,
        },
        plain: { revision: r, source: '/config/plain', state: 'applied' },
        refined: { revision: 0, source: '/config/refined', state: 'applied' },
      },
    });
    // Same lease as the registration: the status vanishes with the instance.
    const registration = await readKey('/services/orders/web-1');
    const statusKv = await readKey('/config-status/orders/web-1');
    expect(statusKv?.lease).toBe(registration?.lease);
    expect(statusKv?.lease).not.toBe('0');
    // The schema: canonical text at its hash, no lease; zod 3 and a refinement publish nothing.
    const schemaKv = await readKey(`/config-schemas/${hash}`);
    expect(schemaKv?.lease).toBe('0');
    expect(schemaKv?.value).toBe(
      canonicalJson(z.toJSONSchema(orderSchema, { io: 'input', unrepresentable: 'throw' })),
    );
    expect((await suite.etcd.getPrefix('/config-schemas/')).size).toBe(1);
    const warnings = suite.logs.matching('warn', /no schema published/, 'EtcdConfig');
    expect(warnings.map(line => line.message)).toEqual([
      expect.stringMatching(/config "refined": no schema published \(.*a refinement/),
    ]);
  });

  it('follows a change within a second; a rejected revision is reported with the served one; the health of config says the served revision', async () => {
    await suite.etcd.put('/config/orders.json', '{"currency":"USD","maxItems":5}');
    const good = await suite.etcd.revision();
    const app = await boot('web-2');
    const config = app.get(EtcdConfigService);
    await statusWhere('web-2', s => s.keys['orders.json']?.revision === good, 'boot value');

    await suite.etcd.put('/config/orders.json', '{"currency":"USD","maxItems":"many"}');
    const bad = await suite.etcd.revision();
    const status = await statusWhere(
      'web-2',
      s => s.keys['orders.json']?.state === 'rejected',
      'the rejection',
    );
    expect(status.revision).toBe(bad);
    expect(status.keys['orders.json']).toMatchObject({
      revision: good,
      state: 'rejected',
      rejectedRevision: bad,
      reason: expect.stringMatching(/maxItems/),
    });
    // Served revision, not the rejected one.
    expect(config.servedRevision).toBe(good);
    expect(config.keyStatuses()['orders.json']).toMatchObject({
      revision: good,
      state: 'rejected',
    });

    await suite.etcd.put('/config/orders.json', '{"currency":"CHF","maxItems":7}');
    const fixed = await suite.etcd.revision();
    const after = await statusWhere(
      'web-2',
      s => s.keys['orders.json']?.revision === fixed,
      'the fix',
    );
    expect(after.keys['orders.json']).toEqual({
      revision: fixed,
      source: '/config/orders.json',
      state: 'applied',
      schema: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(config.servedRevision).toBe(fixed);
  });

  it('a burst of 100 changes is a few writes, not one per change; written only when it changed', async () => {
    await boot('web-3');
    await statusWhere('web-3', () => true, 'first status');
    const before = (await readKey('/config-status/orders/web-3'))!.version;
    for (let i = 0; i < 100; i++) await suite.etcd.put(`/config/burst/k${i % 10}`, String(i));
    // The last config put (the store's revision also counts the status writes themselves).
    const last = (await readKey('/config/burst/k9'))!.modRevision;
    await statusWhere('web-3', s => s.keys['burst/k9']?.revision === last, 'the end of the burst');
    const writes = (await readKey('/config-status/orders/web-3'))!.version - before;
    // etcdctl puts one by one take well over 10 ms each: at most one write per 150-500 ms.
    expect(writes).toBeGreaterThanOrEqual(1);
    expect(writes).toBeLessThan(30);
    // Nothing changed since: no more writes.
    const settled = (await readKey('/config-status/orders/web-3'))!.version;
    await suite.etcd.put('/unrelated/key', 'x');
    await new Promise(resolve => setTimeout(resolve, 800));
    expect((await readKey('/config-status/orders/web-3'))!.version).toBe(settled);
  });

  it('vanishes with the instance; comes back under the new lease after a re-registration; off with report: false', async () => {
    const app = await boot('web-4', {}, false);
    let closed = false;
    try {
      await statusWhere('web-4', () => true, 'first status');
      const firstLease = (await readKey('/services/orders/web-4'))!.lease;
      await suite.etcd.etcdctl(['lease', 'revoke', BigInt(firstLease).toString(16)]);
      await waitFor(
        async () => {
          const registration = await readKey('/services/orders/web-4');
          const status = await readKey('/config-status/orders/web-4');
          return (
            registration &&
            registration.lease !== firstLease &&
            status?.lease === registration.lease
          );
        },
        {
          timeout: 8_000,
          interval: 100,
          message: 'the status was not written under the new lease',
        },
      );

      await app.close();
      closed = true;
      expect(await readKey('/config-status/orders/web-4')).toBeUndefined();
    } finally {
      if (!closed) await app.close();
    }

    await boot('web-5', { config: { report: false } });
    await suite.etcd.put('/config/plain', 'x');
    await new Promise(resolve => setTimeout(resolve, 800));
    expect(await readKey('/config-status/orders/web-5')).toBeUndefined();
  });
});
