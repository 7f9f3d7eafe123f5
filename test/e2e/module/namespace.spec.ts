import 'reflect-metadata';
import { type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  EtcdConfigService,
  EtcdModule,
  EtcdRegistryService,
  type ConfigChange,
} from '../../../lib/index.js';
import { EtcdServer, nextValue, waitFor } from '../../support/index.js';

describe('namespace isolation', () => {
  let etcd: EtcdServer;
  let tenantA: INestApplication;
  let tenantB: INestApplication;

  async function boot(namespace: string, port: number): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        EtcdModule.forRoot({
          hosts: etcd.endpoint,
          namespace,
          registry: {
            serviceName: 'orders',
            instanceId: `${namespace}-web-1`,
            host: '127.0.0.1',
            port,
            ttl: 5,
          },
        }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    await nextValue(app.get(EtcdRegistryService).status$, s => s === 'registered', 5000);
    return app;
  }

  beforeAll(async () => {
    etcd = await EtcdServer.start();
    await etcd.put('tenant-a/config/color', 'red');
    await etcd.put('tenant-b/config/color', 'blue');
    await etcd.put('/config/color', 'no-namespace');
    tenantA = await boot('tenant-a', 5001);
    tenantB = await boot('tenant-b', 5002);
  });
  afterAll(async () => {
    await tenantA?.close();
    await tenantB?.close();
    await etcd?.dispose();
  });

  it('reads only the config keys of its own namespace', () => {
    expect(tenantA.get(EtcdConfigService).getAll()).toEqual({ color: 'red' });
    expect(tenantB.get(EtcdConfigService).getAll()).toEqual({ color: 'blue' });
  });

  it('writes config keys under its namespace and never sees the other tenant write', async () => {
    const a = tenantA.get(EtcdConfigService);
    const b = tenantB.get(EtcdConfigService);
    const seenByA: ConfigChange[] = [];
    const subscription = a.changes$.subscribe(change => seenByA.push(change));
    try {
      await b.set('only-b', 'b-secret');
      expect(await etcd.get('tenant-b/config/only-b')).toBe('b-secret');
      expect(await etcd.get('/config/only-b')).toBeUndefined();
      // A's watch delivers in revision order: once it has seen its own later write, it would have
      // seen B's earlier one if B's keys were in its prefix
      await a.set('marker', 'a-after-b');
      await waitFor(() => seenByA.some(change => change.key === 'marker'), { timeout: 5000 });
      expect(seenByA.map(change => change.key)).toEqual(['marker']);
      expect(a.get('only-b')).toBeUndefined();
      expect(b.get('only-b')).toBe('b-secret');
      expect(b.get('marker')).toBeUndefined();
      expect(await etcd.get('tenant-a/config/marker')).toBe('a-after-b');
    } finally {
      subscription.unsubscribe();
    }
  });

  it('ignores changes outside its namespace made by other writers', async () => {
    const a = tenantA.get(EtcdConfigService);
    const b = tenantB.get(EtcdConfigService);
    await etcd.put('/config/color', 'changed-outside');
    await etcd.put('tenant-b/config/color', 'green');
    await etcd.put('tenant-a/config/fence', 'after-both');
    await waitFor(() => b.get('color') === 'green', { timeout: 5000 });
    // A has applied every event up to its fence, which was written after the outside changes
    await waitFor(() => a.get('fence') === 'after-both', { timeout: 5000 });
    expect(a.get('color')).toBe('red');
  });

  it('registers under its namespace and discovers only its own instances', async () => {
    const raw = await etcd.getPrefix('');
    const registryKeys = [...raw.keys()].filter(key => key.includes('/services/')).sort();
    expect(registryKeys).toEqual([
      'tenant-a/services/orders/tenant-a-web-1',
      'tenant-b/services/orders/tenant-b-web-1',
    ]);
    const a = tenantA.get(EtcdRegistryService);
    const b = tenantB.get(EtcdRegistryService);
    expect((await a.getInstances('orders')).map(i => i.port)).toEqual([5001]);
    expect((await b.getInstances('orders')).map(i => i.port)).toEqual([5002]);
  });

  it('does not see an instance written into another namespace', async () => {
    const a = tenantA.get(EtcdRegistryService);
    const b = tenantB.get(EtcdRegistryService);
    await etcd.put('tenant-b/services/orders/extra', JSON.stringify({ host: '10.0.0.9', port: 7 }));
    await etcd.put('/services/orders/plain', JSON.stringify({ host: '10.0.0.8', port: 8 }));
    await etcd.put('tenant-a/services/orders/fence', JSON.stringify({ host: '10.0.0.1', port: 1 }));
    await nextValue(b.instances$('orders'), list => list.length === 2, 5000);
    const seenByA = await nextValue(
      a.instances$('orders'),
      list => list.some(i => i.instanceId === 'fence'),
      5000,
    );
    expect(seenByA.map(i => i.instanceId).sort()).toEqual(['fence', 'tenant-a-web-1']);
    await etcd.del('tenant-a/services/orders/fence');
    await nextValue(a.instances$('orders'), list => list.length === 1, 5000);
    expect(await a.choose('orders')).toMatchObject({ instanceId: 'tenant-a-web-1' });
  });
});
