import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { NEVER, of } from 'rxjs';
import type { EtcdConnection } from '../../lib/client/etcd-connection.js';
import { InstanceCache } from '../../lib/discovery/instance-cache.js';
import type { ServiceInstance } from '../../lib/discovery/service-instance.interface.js';
import { EtcdUnavailableError } from '../../lib/errors/etcd-unavailable.error.js';
import { InformerPool } from '../../lib/watch/informer-pool.js';
import { FakeClock, FakeEtcd, settle } from '../support/fake-informer-port.js';

/** Discovery's per-service cache on a pool whose lists never load (etcd gone after boot). */
describe('InstanceCache', () => {
  const silentPool = {
    observe: () => NEVER,
    peek: () => undefined,
  } as unknown as InformerPool;
  const cache = new InstanceCache(
    {} as EtcdConnection,
    silentPool,
    { registryPrefix: '/services/', connectTimeout: 20, hosts: ['http://127.0.0.1:2379'] },
    new Logger('EtcdRegistry'),
  );
  afterAll(() => cache.clear());

  it('a list that does not load in time is EtcdUnavailableError (an outage), naming the prefix', async () => {
    const error = (await cache.getInstances('orders').catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(EtcdUnavailableError);
    expect((error as EtcdUnavailableError).key).toBe('/services/orders/');
    expect(error.message).toMatch(/http:\/\/127\.0\.0\.1:2379.*orders/);
    expect(cache.serviceNames).toEqual(['orders']);
  });

  it('rejects a service name that cannot be a key segment', () => {
    expect(() => cache.instances$('a/b')).toThrow(/service name "a\/b" is not valid/);
  });

  it('cachedInstances: undefined until getInstances loaded the list, then that same list, never loading it', async () => {
    const list: ServiceInstance[] = [
      { serviceName: 'pay', instanceId: 'a', host: '127.0.0.1', port: 1, metadata: {}, weight: 1 },
    ];
    let observed = 0;
    const loaded = new InstanceCache(
      {} as EtcdConnection,
      {
        observe: () => {
          observed++;
          return of(list);
        },
      } as unknown as InformerPool,
      { registryPrefix: '/services/', connectTimeout: 1000, hosts: ['http://127.0.0.1:2379'] },
      new Logger('EtcdRegistry'),
    );
    try {
      expect(loaded.cachedInstances('pay')).toBeUndefined();
      expect(observed).toBe(0);
      expect(await loaded.getInstances('pay')).toBe(list);
      expect(loaded.cachedInstances('pay')).toBe(list);
      expect(loaded.cachedInstances('other')).toBeUndefined();
      expect(loaded.serviceNames).toEqual(['pay']);
    } finally {
      loaded.clear();
    }
  });

  it('emits one instance list per batch of changes (a transaction registering three), not one per change', async () => {
    const logger = new Logger('EtcdRegistry');
    jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const etcd = new FakeEtcd();
    const pool = new InformerPool(
      etcd,
      { stallTimeout: 1_000, retry: { initialDelay: 100, maxDelay: 1_000 } },
      { clock: new FakeClock(), random: () => 0 },
    );
    const live = new InstanceCache(
      {} as EtcdConnection,
      pool,
      { registryPrefix: '/services/', connectTimeout: 1000, hosts: ['http://127.0.0.1:2379'] },
      logger,
    );
    const lists: string[][] = [];
    const subscription = live
      .instances$('pay')
      .subscribe(list => lists.push(list.map(i => i.instanceId)));
    try {
      await settle();
      expect(lists).toEqual([[]]);
      const instance = (port: number) => JSON.stringify({ host: '127.0.0.1', port });
      etcd.txn([
        { key: '/services/pay/a', value: instance(1) },
        { key: '/services/pay/b', value: instance(2) },
        { key: '/services/pay/c', value: instance(3) },
      ]);
      expect(lists).toEqual([[], ['a', 'b', 'c']]);
      etcd.put('/services/pay/b', instance(4));
      expect(lists).toHaveLength(3);
    } finally {
      subscription.unsubscribe();
      live.clear();
      await pool.close();
    }
  });
});
