import 'reflect-metadata';
import { type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  EtcdConfigService,
  EtcdModule,
  EtcdRegistryService,
  type EtcdModuleOptions,
} from '../../../lib/index.js';
import { EtcdConnection } from '../../support/internals.js';
import { EtcdServer, TcpProxy, nextValue, expectDuration } from '../../support/index.js';
import { trackOpenHandles } from '../../fixtures/module/open-handles.js';

/**
 * Upper bound for `app.close()` when etcd is gone: deregistering gives up after a few seconds (the
 * lease then expires on its own) and closing the client never waits for etcd. Generous on purpose:
 * the contract is "bounded", not "fast".
 */
const CLOSE_BOUND_MS = 10_000;

async function boot(options: EtcdModuleOptions): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [EtcdModule.forRoot(options)],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

async function timedClose(app: INestApplication): Promise<number> {
  const started = Date.now();
  await app.close();
  return Date.now() - started;
}

describe('clean shutdown', () => {
  let etcd: EtcdServer;

  beforeAll(async () => {
    etcd = await EtcdServer.start();
  });
  afterAll(async () => {
    await etcd?.dispose();
  });

  it('app.close() deregisters, stops watching and closes the client; no handle stays open', async () => {
    const handles = trackOpenHandles();
    const app = await boot({
      hosts: etcd.endpoint,
      registry: { serviceName: 'closing', host: '127.0.0.1', port: 4200, ttl: 5 },
    });
    const registry = app.get(EtcdRegistryService);
    const config = app.get(EtcdConfigService);
    const connection = app.get(EtcdConnection);
    await nextValue(registry.status$, s => s === 'registered', 5000);
    const instances = registry.instances$('closing').subscribe();
    const watching = config.watch('anything').subscribe();
    expect((await etcd.getPrefix('/services/closing/')).size).toBe(1);

    await app.close();
    instances.unsubscribe();
    watching.unsubscribe();

    expect(connection.isClosed).toBe(true);
    await expect(connection.client.get('/config/anything').string()).rejects.toThrow();
    // the lease was revoked, so the instance is gone at once, not after the TTL
    expect((await etcd.getPrefix('/services/closing/')).size).toBe(0);
    await handles.settled();
  });

  it('app.close() twice is harmless', async () => {
    const app = await boot({ hosts: etcd.endpoint });
    await app.close();
    await expect(app.close()).resolves.toBeUndefined();
  });

  it('app.close() finishes within a bounded time when etcd was killed', async () => {
    const doomed = await EtcdServer.start();
    try {
      const handles = trackOpenHandles();
      const app = await boot({
        hosts: doomed.endpoint,
        connectTimeout: 2000,
        registry: { serviceName: 'orphan', host: '127.0.0.1', port: 4300, ttl: 5 },
      });
      const registry = app.get(EtcdRegistryService);
      await nextValue(registry.status$, s => s === 'registered', 5000);
      const watching = app.get(EtcdConfigService).watch('x').subscribe();
      await doomed.kill();

      const elapsed = await timedClose(app);
      watching.unsubscribe();
      expectDuration(elapsed, CLOSE_BOUND_MS, 'app.close() with etcd killed');
      expect(app.get(EtcdConnection).isClosed).toBe(true);
      await handles.settled();
    } finally {
      await doomed.dispose();
    }
  });

  it('app.close() finishes within a bounded time when etcd stopped answering (blackhole)', async () => {
    const handles = trackOpenHandles();
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: etcd.clientPort });
    let app: INestApplication | undefined;
    try {
      app = await boot({
        hosts: proxy.endpoint,
        registry: { serviceName: 'partitioned', host: '127.0.0.1', port: 4400, ttl: 5 },
      });
      await nextValue(app.get(EtcdRegistryService).status$, s => s === 'registered', 5000);
      proxy.blackhole();

      const elapsed = await timedClose(app);
      expectDuration(elapsed, CLOSE_BOUND_MS, 'app.close() with etcd blackholed');
      expect(app.get(EtcdConnection).isClosed).toBe(true);
    } finally {
      await proxy.close();
    }
    // the proxy held both ends of each connection; with it gone, nothing of the app may remain
    await handles.settled();
  });
});
