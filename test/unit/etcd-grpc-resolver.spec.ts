import { BehaviorSubject, type Observable, throwError } from 'rxjs';
import { registerEtcdResolver, type GrpcJsModule } from '../../lib/grpc.js';
import type { ServiceInstance } from '../../lib/discovery/service-instance.interface.js';

type Report = { ok: boolean; value?: unknown; details?: string };
type ResolverClass = new (
  target: { scheme?: string; authority?: string; path: string },
  listener: (result: Report) => boolean,
  options: object,
) => { updateResolution(): void; destroy(): void };

/** A fake grpc-js: records the registered resolver class; StatusOr is a plain object. */
function fakeGrpc() {
  const registered = new Map<string, ResolverClass>();
  const grpc = {
    experimental: {
      registerResolver: (scheme: string, cls: ResolverClass) => registered.set(scheme, cls),
      statusOrFromValue: (value: unknown) => ({ ok: true, value }),
      statusOrFromError: (error: { details: string }) => ({ ok: false, details: error.details }),
    },
    status: { UNAVAILABLE: 14 },
    Metadata: class {},
  };
  return { grpc: grpc as unknown as GrpcJsModule, registered };
}

function instance(
  id: string,
  port: number,
  metadata: Record<string, unknown> = {},
): ServiceInstance {
  return { serviceName: 'calc', instanceId: id, host: '127.0.0.1', port, metadata, weight: 1 };
}

/** Opens a resolver of `scheme` (registered by `registerEtcdResolver`) and collects what it reports. */
function openResolver(
  registered: Map<string, ResolverClass>,
  scheme: string,
  target: { scheme?: string; path: string },
) {
  const reports: Report[] = [];
  const resolver = new (registered.get(scheme)!)(
    target,
    r => {
      reports.push(r);
      return true;
    },
    {},
  );
  return { resolver, reports };
}

const nextTick = () => new Promise<void>(resolve => setImmediate(resolve));

describe('registerEtcdResolver (fake grpc-js, fake registry)', () => {
  it('reports every live instance, never synchronously, follows changes and stops on destroy', async () => {
    const list$ = new BehaviorSubject<ServiceInstance[]>([instance('a', 1), instance('b', 2)]);
    const { grpc, registered } = fakeGrpc();
    registerEtcdResolver({ instances$: () => list$ }, { grpc, scheme: 'etcdtest' });
    const { resolver, reports } = openResolver(registered, 'etcdtest', {
      scheme: 'etcdtest',
      path: '/calc',
    });
    resolver.updateResolution();
    expect(reports).toEqual([]); // grpc-js contract: never from inside updateResolution
    await nextTick();
    expect(reports).toEqual([
      {
        ok: true,
        value: [
          { addresses: [{ host: '127.0.0.1', port: 1 }] },
          { addresses: [{ host: '127.0.0.1', port: 2 }] },
        ],
      },
    ]);
    list$.next([instance('b', 2)]);
    await nextTick();
    expect(reports.at(-1)).toEqual({
      ok: true,
      value: [{ addresses: [{ host: '127.0.0.1', port: 2 }] }],
    });
    list$.next([]);
    await nextTick();
    expect(reports.at(-1)).toMatchObject({
      ok: false,
      details: expect.stringMatching(/no live instance of service "calc"/),
    });
    resolver.destroy();
    const count = reports.length;
    list$.next([instance('c', 3)]);
    await nextTick();
    expect(reports).toHaveLength(count);
    expect(list$.observed).toBe(false);
  });

  it('a failing list is UNAVAILABLE; the next updateResolution subscribes again', async () => {
    let subscriptions = 0;
    const list$ = new BehaviorSubject<ServiceInstance[]>([instance('a', 1)]);
    const instances$ = (): Observable<ServiceInstance[]> =>
      ++subscriptions === 1 ? throwError(() => new Error('permission denied')) : list$;
    const { grpc, registered } = fakeGrpc();
    registerEtcdResolver({ instances$ }, { grpc, scheme: 'etcdtest2' });
    const { resolver, reports } = openResolver(registered, 'etcdtest2', { path: '/calc' });
    resolver.updateResolution();
    await nextTick();
    expect(reports).toEqual([{ ok: false, details: 'Error: permission denied' }]);
    resolver.updateResolution();
    await nextTick();
    expect(subscriptions).toBe(2);
    expect(reports.at(-1)).toEqual({
      ok: true,
      value: [{ addresses: [{ host: '127.0.0.1', port: 1 }] }],
    });
    resolver.destroy();
  });

  it('filter keeps only matching instances; a target without a service name is rejected', async () => {
    const list$ = new BehaviorSubject([instance('a', 1, { v: 1 }), instance('b', 2, { v: 2 })]);
    const { grpc, registered } = fakeGrpc();
    registerEtcdResolver(
      { instances$: () => list$ },
      { grpc, scheme: 'etcdtest3', filter: { v: 2 } },
    );
    const { resolver, reports } = openResolver(registered, 'etcdtest3', { path: '/calc' });
    const Resolver = registered.get('etcdtest3')!;
    resolver.updateResolution();
    await nextTick();
    expect(reports).toEqual([
      { ok: true, value: [{ addresses: [{ host: '127.0.0.1', port: 2 }] }] },
    ]);
    resolver.destroy();
    expect(() => new Resolver({ path: '/' }, () => true, {})).toThrow(
      /<scheme>:\/\/\/<serviceName>/,
    );
  });
});
