import { NEVER, type Observable, firstValueFrom, of, throwError } from 'rxjs';
import { NoInstanceAvailableError } from '../../lib/index.js';
import { EtcdClientProxy, type EtcdClientProxyRegistry } from '../../lib/microservices.js';
import type { ServiceInstance } from '../../lib/discovery/service-instance.interface.js';

/**
 * A fake registry, as a user writes one in a test: only the public EtcdClientProxyRegistry
 * interface (no etcd, no sockets, nothing internal).
 */
function registry(instances$: () => Observable<ServiceInstance[]>): EtcdClientProxyRegistry {
  return { instances$ };
}

const v1: ServiceInstance = {
  serviceName: 'calc',
  instanceId: 'c-1',
  host: '127.0.0.1',
  port: 1,
  metadata: { version: '1' },
  weight: 1,
};

describe('EtcdClientProxy (fake registry)', () => {
  it('a failing instance list (e.g. permission denied) is the error of the call, and the next call subscribes again', async () => {
    let subscriptions = 0;
    const proxy = new EtcdClientProxy({
      registry: registry(() => {
        subscriptions++;
        return throwError(() => new Error('permission denied on /services/calc/'));
      }),
      serviceName: 'calc',
    });
    await expect(firstValueFrom(proxy.send({ cmd: 'x' }, {}))).rejects.toThrow('permission denied');
    await expect(firstValueFrom(proxy.send({ cmd: 'x' }, {}))).rejects.toThrow('permission denied');
    expect(subscriptions).toBe(2);
    proxy.close();
  });

  it('a list that never loads fails after loadTimeout with a readable error', async () => {
    const proxy = new EtcdClientProxy({
      registry: registry(() => NEVER),
      serviceName: 'calc',
      loadTimeout: 50,
    });
    await expect(proxy.connect()).rejects.toThrow(
      /the instances of "calc" did not load within 50 ms/,
    );
    proxy.close();
  });

  it('no instance matching the filter: NoInstanceAvailableError, no connection attempted', async () => {
    const proxy = new EtcdClientProxy({
      registry: registry(() => of([v1])),
      serviceName: 'calc',
      filter: { version: '2' },
    });
    const err = (await firstValueFrom(proxy.send({ cmd: 'x' }, {})).catch(
      (e: unknown) => e,
    )) as NoInstanceAvailableError;
    expect(err).toBeInstanceOf(NoInstanceAvailableError);
    expect(err.filtered).toBe(true);
    expect(proxy.unwrap<Map<string, unknown>>().size).toBe(0);
    proxy.close();
  });

  it("rejects a registry without instances$ (not the app's EtcdRegistryService)", () => {
    expect(
      () => new EtcdClientProxy({ registry: {} as EtcdClientProxyRegistry, serviceName: 'calc' }),
    ).toThrow(/options.registry must be the app's EtcdRegistryService/);
  });

  it('rejects options without a serviceName', () => {
    expect(
      () => new EtcdClientProxy({ registry: registry(() => of([])), serviceName: '' }),
    ).toThrow(/serviceName/);
  });
});
