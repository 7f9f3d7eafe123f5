import 'reflect-metadata';
import { type INestApplication, type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import {
  EtcdModule,
  EtcdRegistryService,
  InvalidOptionsError,
  type ServiceInstance,
} from '../../../lib/index.js';
import { parseEtcdJson } from '../../support/etcd-server.js';
import { EtcdServer, nextValue, within } from '../../support/index.js';
import { TEST_RETRY } from '../../support/nest-apps.js';
import { closeAll, registryOf, startApp } from '../../support/registry-test-app.js';

describe('registry: registration, wire format, port detection, graceful close', () => {
  let etcd: EtcdServer;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    etcd = await EtcdServer.start();
  });
  afterEach(async () => {
    await closeAll(apps);
  });
  afterAll(async () => {
    await etcd?.dispose();
  });

  const listeningPort = (app: INestApplication) =>
    (app.getHttpServer() as { address(): AddressInfo }).address().port;
  const ids = (list: ServiceInstance[]) => list.map(i => i.instanceId).sort();

  /** The raw key-value as etcdctl shows it: value text and lease id (decimal). */
  async function rawKey(key: string): Promise<{ value: string; lease: string } | undefined> {
    const out = parseEtcdJson(await etcd.etcdctl(['get', '-w', 'json', '--', key])) as {
      kvs?: Array<{ value: string; lease?: string | number }>;
    };
    const kv = out.kvs?.[0];
    if (!kv) return undefined;
    return {
      value: Buffer.from(kv.value, 'base64').toString('utf8'),
      lease: String(kv.lease ?? 0),
    };
  }

  it('two apps register with the port listen(0) bound, see each other, and etcd holds the wire format', async () => {
    const a = await startApp({
      hosts: etcd.endpoint,
      registry: {
        serviceName: 'pair',
        instanceId: 'pair-a',
        host: '127.0.0.1',
        ttl: 5,
        weight: 3,
        metadata: { version: '1.2.3', zone: 'a' },
      },
    });
    apps.push(a);
    const b = await startApp({
      hosts: etcd.endpoint,
      registry: { serviceName: 'pair', instanceId: 'pair-b', host: '127.0.0.1', ttl: 5 },
    });
    apps.push(b);

    for (const [app, other] of [
      [a, 'pair-b'],
      [b, 'pair-a'],
    ] as const) {
      const list = await nextValue(
        registryOf(app).instances$('pair'),
        l => ids(l).join() === 'pair-a,pair-b',
        10_000,
      );
      const peer = list.find(i => i.instanceId === other);
      expect(peer?.port).toBe(listeningPort(other === 'pair-a' ? a : b));
    }

    const self = registryOf(a).self;
    expect(self).toMatchObject({ serviceName: 'pair', instanceId: 'pair-a', weight: 3 });
    expect(self?.port).toBe(listeningPort(a));
    expect(listeningPort(a)).not.toBe(listeningPort(b));

    // What a plain etcdctl user sees.
    const raw = await rawKey('/services/pair/pair-a');
    expect(raw).toBeDefined();
    const value = JSON.parse(raw!.value) as Record<string, unknown>;
    expect(Object.keys(value).sort()).toEqual(
      ['host', 'instanceId', 'metadata', 'port', 'registeredAt', 'serviceName', 'weight'].sort(),
    );
    expect(value).toMatchObject({
      host: '127.0.0.1',
      port: listeningPort(a),
      serviceName: 'pair',
      instanceId: 'pair-a',
      metadata: { version: '1.2.3', zone: 'a' },
      weight: 3,
    });
    expect(new Date(value.registeredAt as string).toISOString()).toBe(value.registeredAt);

    // The key is attached to a lease of `ttl` seconds.
    expect(raw!.lease).not.toBe('0');
    const leaseHex = BigInt(raw!.lease).toString(16);
    const ttlInfo = await etcd.etcdctl(['lease', 'timetolive', leaseHex, '--keys']);
    expect(ttlInfo).toMatch(/granted with TTL\(5s\)/);
    expect(ttlInfo).toContain('/services/pair/pair-a');

    // Both apps are listed by getInstances too.
    expect(ids(await registryOf(b).getInstances('pair'))).toEqual(['pair-a', 'pair-b']);
  });

  it('app.close(): the key is gone when close resolves and an observer sees the removal without waiting for the TTL', async () => {
    const observer = await startApp({ hosts: etcd.endpoint });
    apps.push(observer);
    const leaving = await startApp({
      hosts: etcd.endpoint,
      // A TTL far longer than the bounds below: only the revoke on close can pass this test.
      registry: { serviceName: 'leaving', instanceId: 'leaving-1', host: '127.0.0.1', ttl: 60 },
    });
    const instances$ = registryOf(observer).instances$('leaving');
    // The observer's watch can deliver the key before the put's own response reaches the app:
    // wait for both, so the status history below starts at 'registered'.
    await nextValue(instances$, list => ids(list).includes('leaving-1'), 10_000);
    await nextValue(registryOf(leaving).status$, s => s === 'registered', 10_000);
    const statuses: string[] = [];
    registryOf(leaving).status$.subscribe(s => statuses.push(s));

    const removed = nextValue(instances$, list => list.length === 0, 5_000);
    await leaving.close();
    expect(await etcd.get('/services/leaving/leaving-1')).toBeUndefined();
    expect(statuses).toEqual(['registered', 'deregistered']);
    expect(await removed).toEqual([]);
  });

  it('an explicit registry.port wins over the listening port', async () => {
    const app = await startApp({
      hosts: etcd.endpoint,
      registry: { serviceName: 'fixed', instanceId: 'fixed-1', host: '127.0.0.1', port: 8123 },
    });
    apps.push(app);
    await nextValue(registryOf(app).status$, s => s === 'registered', 10_000);
    expect(JSON.parse((await etcd.get('/services/fixed/fixed-1'))!)).toMatchObject({ port: 8123 });
    expect(listeningPort(app)).not.toBe(8123);
  });

  it('self is undefined until etcd holds the key (status registered), then the instance', async () => {
    const app = await startApp({
      hosts: etcd.endpoint,
      registry: {
        serviceName: 'self-timing',
        instanceId: 'st-1',
        host: '127.0.0.1',
        port: 8124,
        autoRegister: false,
      },
    });
    apps.push(app);
    const registry = registryOf(app);
    const seen: Array<[string, boolean]> = [];
    const sub = registry.status$.subscribe(s => seen.push([s, registry.self !== undefined]));
    const pending = registry.register();
    expect(registry.status).toBe('registering');
    expect(registry.self).toBeUndefined();
    const instance = await within(pending, 15_000, 'register() with etcd up');
    expect(registry.self).toBe(instance);
    expect(await etcd.get('/services/self-timing/st-1')).toBeDefined();
    // At each status change, self was defined exactly when the status was registered.
    expect(seen).toEqual([
      ['deregistered', false],
      ['registering', false],
      ['registered', true],
    ]);
    sub.unsubscribe();
    await registry.deregister();
    expect(registry.self).toBeUndefined();
  });

  it('an HTTP app that never listens does not register (no port is known yet)', async () => {
    const app = await startApp({
      hosts: etcd.endpoint,
      listen: false,
      registry: { serviceName: 'quiet', instanceId: 'quiet-1', host: '127.0.0.1' },
    });
    apps.push(app);
    // Discovery round-trips through etcd, so a registration put before it would be visible.
    expect(await registryOf(app).getInstances('quiet')).toEqual([]);
    expect(registryOf(app).self).toBeUndefined();
    await expect(registryOf(app).register()).rejects.toThrow(InvalidOptionsError);
    expect(await etcd.getPrefix('/services/quiet/')).toEqual(new Map());
  });

  describe('standalone application context', () => {
    const contexts: INestApplicationContext[] = [];
    afterEach(async () => {
      await Promise.allSettled(contexts.splice(0).map(c => c.close()));
    });

    function standaloneModule(port?: number) {
      @Module({
        imports: [
          EtcdModule.forRoot({
            hosts: etcd.endpoint,
            config: false,
            retry: TEST_RETRY,
            registry: { serviceName: 'worker', instanceId: `worker-${port ?? 'x'}`, port },
          }),
        ],
      })
      class WorkerModule {}
      return WorkerModule;
    }

    it('NestFactory.createApplicationContext without registry.port fails with InvalidOptionsError', async () => {
      const attempt = NestFactory.createApplicationContext(standaloneModule(), {
        logger: false,
        abortOnError: false,
      });
      await expect(attempt).rejects.toThrow(InvalidOptionsError);
      await expect(attempt).rejects.toThrow(/registry\.port/);
      expect(await etcd.getPrefix('/services/worker/')).toEqual(new Map());
    });

    it('moduleRef.init() without registry.port fails with InvalidOptionsError', async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [standaloneModule()],
      }).compile();
      contexts.push(moduleRef);
      await expect(moduleRef.init()).rejects.toThrow(InvalidOptionsError);
    });

    it('a standalone context with registry.port registers that port and revokes it on close', async () => {
      const context = await NestFactory.createApplicationContext(standaloneModule(7001), {
        logger: false,
        abortOnError: false,
      });
      contexts.push(context);
      const registry = context.get(EtcdRegistryService);
      await nextValue(registry.status$, s => s === 'registered', 10_000);
      expect(JSON.parse((await etcd.get('/services/worker/worker-7001'))!)).toMatchObject({
        port: 7001,
        serviceName: 'worker',
      });
      await context.close();
      expect(await etcd.get('/services/worker/worker-7001')).toBeUndefined();
    });
  });
});
