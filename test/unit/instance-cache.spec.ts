import { Logger } from '@nestjs/common';
import { NEVER } from 'rxjs';
import type { EtcdConnection } from '../../lib/client/etcd-connection.js';
import { InstanceCache } from '../../lib/discovery/instance-cache.js';
import { EtcdUnavailableError } from '../../lib/errors/etcd-unavailable.error.js';
import type { InformerPool } from '../../lib/watch/informer-pool.js';

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
});
