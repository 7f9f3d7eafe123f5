import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { Etcd3 } from 'etcd3';
import { EtcdServer, waitFor } from '../../support/index.js';
import { InformerPool } from '../../support/internals.js';
import { closeAll, registryOf, startApp } from '../../support/registry-test-app.js';

/**
 * Registration costs O(1) per instance. Its own-key watch is a single-key watch;
 * it never lists nor follows the other instances of its service (the informer of the service
 * prefix exists only when the app discovers that service).
 */
describe('registry: the registration watches its own key only', () => {
  let etcd: EtcdServer;
  let raw: Etcd3;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    etcd = await EtcdServer.start();
    raw = new Etcd3({ hosts: etcd.endpoint });
  });
  afterAll(async () => {
    await closeAll(apps);
    raw?.close();
    await etcd?.dispose();
  });

  it('200 other instances come and go: no informer of the service prefix, no re-put, own key kept; discovery then adds one informer', async () => {
    const app = await startApp({
      hosts: etcd.endpoint,
      listen: false,
      registry: { serviceName: 'crowd', instanceId: 'crowd-0', host: '127.0.0.1', port: 4000 },
    });
    apps.push(app);
    const registry = registryOf(app);
    const pool = app.get(InformerPool);
    expect(registry.status).toBe('registered');
    const own = (await raw.get('/services/crowd/crowd-0').exec()).kvs[0];
    expect(own).toBeDefined();

    for (let i = 1; i <= 200; i++) {
      await raw
        .put(`/services/crowd/crowd-${i}`)
        .value(JSON.stringify({ host: '127.0.0.1', port: 4000 + i }));
    }
    await raw.delete().prefix('/services/crowd/crowd-1');
    expect(pool.peek('/services/crowd/')).toBeUndefined();
    expect(pool.size).toBe(0);
    expect(registry.status).toBe('registered');
    const after = (await raw.get('/services/crowd/crowd-0').exec()).kvs[0];
    // Untouched: the same version and lease (the crowd's changes never reached the registration).
    expect(after?.version).toBe(own!.version);
    expect(after?.lease).toBe(own!.lease);

    // Discovery of the same service is what lists it: one shared informer.
    const instances = await registry.getInstances('crowd');
    expect(instances.map(i => i.instanceId)).toContain('crowd-0');
    expect(pool.peek('/services/crowd/')).toBeDefined();
    expect(pool.size).toBe(1);

    // The own key is still healed when deleted from outside.
    await raw.delete().key('/services/crowd/crowd-0');
    await waitFor(async () => (await raw.get('/services/crowd/crowd-0').string()) !== null, {
      timeout: 10_000,
      message: 'the own key was not put back after an outside delete',
    });
  });
});
