import { of } from 'rxjs';
import { DiscoveryClient } from '../../lib/discovery/discovery-client.js';
import { NoInstanceAvailableError } from '../../lib/errors/no-instance-available.error.js';
import { ServiceCallError } from '../../lib/errors/service-call.error.js';
import type { ServiceInstance } from '../../lib/discovery/service-instance.interface.js';

function instance(
  instanceId: string,
  port: number,
  metadata: Record<string, unknown> = {},
): ServiceInstance {
  return { serviceName: 'svc', instanceId, host: '127.0.0.1', port, metadata, weight: 1 };
}

/** A fake instances source: the narrow port the discovery engine reads from. */
function source(list: ServiceInstance[]) {
  return {
    current: list,
    getInstances(): Promise<ServiceInstance[]> {
      return Promise.resolve(this.current);
    },
    instances$() {
      return of(this.current);
    },
  };
}

/** What Node's fetch throws when a connection is refused. */
function refused(port: number): TypeError {
  const cause = Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:${port}`), {
    code: 'ECONNREFUSED',
  });
  return new TypeError('fetch failed', { cause });
}

/** A fake fetch: ports in `down` refuse, others answer 200 with the port. */
function fakeFetch(down: Set<number>, calls: Array<{ url: string; method?: string }>) {
  return ((input: string | URL, init?: RequestInit) => {
    const url = String(input);
    calls.push({ url, method: init?.method });
    const port = Number(new URL(url).port);
    if (down.has(port)) return Promise.reject(refused(port));
    return Promise.resolve(new Response(String(port)));
  }) as typeof fetch;
}

const ids = (list: Array<ServiceInstance | undefined>) => list.map(i => i?.instanceId);

describe('DiscoveryClient.choose', () => {
  const a = instance('a', 1001, { zone: 'z1', version: '1' });
  const b = instance('b', 1002, { zone: 'z2', version: '2' });
  const c = instance('c', 1003, { zone: 'z1', version: '2' });

  it('keeps choose(name, strategy) working and accepts { strategy }', async () => {
    const client = new DiscoveryClient(source([a, b, c]));
    const picks = [
      await client.choose('svc', 'round-robin'),
      await client.choose('svc', { strategy: 'round-robin' }),
      await client.choose('svc'),
    ];
    expect(ids(picks)).toEqual(['a', 'b', 'c']);
  });

  it('filters by a metadata object or a predicate', async () => {
    const client = new DiscoveryClient(source([a, b, c]));
    const byObject = [];
    for (let i = 0; i < 4; i++)
      byObject.push(await client.choose('svc', { filter: { version: '2' } }));
    expect(ids(byObject)).toEqual(['b', 'c', 'b', 'c']);
    expect(ids([await client.choose('svc', { filter: i => i.port === 1001 })])).toEqual(['a']);
    expect(await client.choose('svc', { filter: { version: '3' } })).toBeUndefined();
  });

  it('prefers the caller zone, falls back to others only when none of its zone is available', async () => {
    let now = 0;
    const list = source([a, b, c]);
    const client = new DiscoveryClient(list, {
      zone: 'z1',
      now: () => now,
      health: { failures: 1, ejectFor: 1000 },
    });
    const picks = [];
    for (let i = 0; i < 4; i++) picks.push(await client.choose('svc'));
    expect(ids(picks)).toEqual(['a', 'c', 'a', 'c']);
    // a per-call zone wins over the caller's; null turns preference off
    expect(ids([await client.choose('svc', { zone: 'z2' })])).toEqual(['b']);
    const anyZone = new Set<string | undefined>();
    for (let i = 0; i < 6; i++)
      anyZone.add((await client.choose('svc', { zone: null }))?.instanceId);
    expect([...anyZone].sort()).toEqual(['a', 'b', 'c']);
    // both z1 instances ejected: z2 serves; when they come back, z1 again
    client.reportFailure(a, refused(1001));
    client.reportFailure(c, refused(1003));
    expect(ids([await client.choose('svc'), await client.choose('svc')])).toEqual(['b', 'b']);
    now += 1000;
    expect((await client.choose('svc'))?.metadata.zone).toBe('z1');
    // no z1 instance registered at all
    list.current = [b];
    expect(ids([await client.choose('svc')])).toEqual(['b']);
  });

  it('leaves ejected instances out, never all of them, and takes them back after ejectFor', async () => {
    let now = 0;
    const client = new DiscoveryClient(source([a, b]), {
      now: () => now,
      health: { failures: 2, ejectFor: 5000 },
    });
    client.reportFailure(a, refused(1001));
    client.reportFailure(a, refused(1001));
    const picks = [];
    for (let i = 0; i < 3; i++) picks.push(await client.choose('svc'));
    expect(ids(picks)).toEqual(['b', 'b', 'b']);
    client.reportFailure(b, refused(1002));
    client.reportFailure(b, refused(1002));
    const both = new Set<string | undefined>();
    for (let i = 0; i < 4; i++) both.add((await client.choose('svc'))?.instanceId);
    expect([...both].sort()).toEqual(['a', 'b']);
    now += 5000;
    expect(client.health.isEjected(a)).toBe(false);
  });

  it('rejects a bad choice argument with a TypeError', async () => {
    const client = new DiscoveryClient(source([a]));
    await expect(client.choose('svc', 42 as never)).rejects.toThrow(TypeError);
    await expect(client.choose('svc', 'fastest' as never)).rejects.toThrow(
      /unknown load-balancing strategy/,
    );
  });
});

describe('DiscoveryClient.fetch', () => {
  const a = instance('a', 2001);
  const b = instance('b', 2002);
  const c = instance('c', 2003);

  it('GET retries on another instance after a refused connection and returns its response', async () => {
    const calls: Array<{ url: string; method?: string }> = [];
    const client = new DiscoveryClient(source([a, b, c]), {
      fetch: fakeFetch(new Set([2001]), calls),
    });
    const res = await client.fetch('svc', '/items/1?x=1');
    expect(calls).toHaveLength(2);
    expect(calls[0]?.url).toBe('http://127.0.0.1:2001/items/1?x=1');
    expect(calls[1]?.url).toMatch(/^http:\/\/127\.0\.0\.1:200[23]\/items\/1\?x=1$/);
    expect(await res.text()).toBe(new URL(calls[1]?.url ?? '').port);
  });

  it('reads a loaded list without a promise (cachedInstances) and loads through getInstances otherwise', async () => {
    let loads = 0;
    let cached: ServiceInstance[] | undefined;
    const lazy = {
      getInstances(): Promise<ServiceInstance[]> {
        loads++;
        cached = [a, b];
        return Promise.resolve(cached);
      },
      cachedInstances: () => cached,
      instances$: () => of(cached ?? []),
    };
    const calls: Array<{ url: string; method?: string }> = [];
    const client = new DiscoveryClient(lazy, { fetch: fakeFetch(new Set(), calls) });
    for (let i = 0; i < 4; i++) expect((await client.fetch('svc', '/')).status).toBe(200);
    expect(loads).toBe(1);
    expect(calls.map(c => new URL(c.url).port)).toEqual(['2001', '2002', '2001', '2002']);
  });

  it('never tries the same instance twice in one call while others remain; default 2 retries', async () => {
    const calls: Array<{ url: string; method?: string }> = [];
    const client = new DiscoveryClient(source([a, b, c]), {
      fetch: fakeFetch(new Set([2001, 2002, 2003]), calls),
    });
    const err = (await client.fetch('svc', '/').catch((e: unknown) => e)) as ServiceCallError;
    expect(err).toBeInstanceOf(ServiceCallError);
    expect(err.attempts.map(x => x.instanceId).sort()).toEqual(['a', 'b', 'c']);
    expect(err.attempts.every(x => x.reason === 'ECONNREFUSED')).toBe(true);
    expect(err.message).toMatch(/call to service "svc" failed after 3 attempts/);
    expect(calls).toHaveLength(3);
  });

  it('POST and PATCH are not retried unless retryNonIdempotent; retries: 0 disables retries', async () => {
    for (const method of ['POST', 'patch']) {
      const calls: Array<{ url: string; method?: string }> = [];
      const client = new DiscoveryClient(source([a, b]), {
        fetch: fakeFetch(new Set([2001]), calls),
      });
      await expect(client.fetch('svc', '/', { method, body: 'x' })).rejects.toThrow(
        ServiceCallError,
      );
      expect(calls).toHaveLength(1);
      const res = await client.fetch('svc', '/', { method, body: 'x', retryNonIdempotent: true });
      expect(res.status).toBe(200);
    }
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']) {
      const calls: Array<{ url: string; method?: string }> = [];
      const client = new DiscoveryClient(source([a, b]), {
        fetch: fakeFetch(new Set([2001]), calls),
      });
      expect((await client.fetch('svc', '/', { method })).status).toBe(200);
      expect(calls.map(c => c.method)).toEqual([method, method]);
      const none = new DiscoveryClient(source([a, b]), { fetch: fakeFetch(new Set([2001]), []) });
      await expect(none.fetch('svc', '/', { method, retries: 0 })).rejects.toThrow(
        ServiceCallError,
      );
    }
  });

  it('a stream body is never retried (it cannot be sent twice)', async () => {
    const calls: Array<{ url: string; method?: string }> = [];
    const client = new DiscoveryClient(source([a, b]), {
      fetch: fakeFetch(new Set([2001]), calls),
    });
    const body = new ReadableStream({ start: ctl => ctl.close() });
    await expect(
      client.fetch('svc', '/', { method: 'PUT', body, duplex: 'half' } as RequestInit),
    ).rejects.toThrow(ServiceCallError);
    expect(calls).toHaveLength(1);
  });

  it('an HTTP error status is an answer: returned as-is, not retried, not a failure', async () => {
    let count = 0;
    const fetch503 = (() => {
      count++;
      return Promise.resolve(new Response('busy', { status: 503 }));
    }) as typeof fetch;
    const client = new DiscoveryClient(source([a, b]), {
      fetch: fetch503,
      health: { failures: 1 },
    });
    expect((await client.fetch('svc', '/')).status).toBe(503);
    expect(count).toBe(1);
    expect(client.health.isEjected(a)).toBe(false);
  });

  it('a non-connection error (bad request init) is thrown at once', async () => {
    const failing = (() => Promise.reject(new TypeError('invalid header value'))) as typeof fetch;
    const client = new DiscoveryClient(source([a, b]), { fetch: failing });
    await expect(client.fetch('svc', '/')).rejects.toThrow('invalid header value');
  });

  it('timeout: an attempt without response headers in time is a failure and is retried elsewhere', async () => {
    const calls: string[] = [];
    const slowOnA = ((input: string | URL, init?: RequestInit) => {
      const url = String(input);
      calls.push(url);
      if (url.includes(':2001')) {
        return new Promise<Response>((_, reject) => {
          init?.signal?.addEventListener('abort', () => reject(init.signal?.reason as Error));
        });
      }
      return Promise.resolve(new Response('ok'));
    }) as typeof fetch;
    const client = new DiscoveryClient(source([a, b]), { fetch: slowOnA });
    const res = await client.fetch('svc', '/', { timeout: 50 });
    expect(await res.text()).toBe('ok');
    expect(calls).toEqual(['http://127.0.0.1:2001/', 'http://127.0.0.1:2002/']);
  });

  it("the caller's own abort is rethrown, never retried nor held against the instance", async () => {
    const calls: string[] = [];
    let called!: () => void;
    const sent = new Promise<void>(resolve => (called = resolve));
    const hanging = ((input: string | URL, init?: RequestInit) => {
      calls.push(String(input));
      called();
      return new Promise<Response>((_, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason as Error));
      });
    }) as typeof fetch;
    const client = new DiscoveryClient(source([a, b]), { fetch: hanging, health: { failures: 1 } });
    const controller = new AbortController();
    const pending = client.fetch('svc', '/', { signal: controller.signal });
    await sent;
    controller.abort(new Error('user gave up'));
    await expect(pending).rejects.toThrow('user gave up');
    expect(calls).toHaveLength(1);
    expect(client.health.isEjected(a)).toBe(false);
  });

  it('three failed calls eject the instance: later calls skip it without a failed attempt', async () => {
    const calls: Array<{ url: string; method?: string }> = [];
    let now = 0;
    const client = new DiscoveryClient(source([a, b]), {
      fetch: fakeFetch(new Set([2001]), calls),
      now: () => now,
    });
    for (let i = 0; i < 6; i++) expect((await client.fetch('svc', '/')).status).toBe(200);
    const toA = () => calls.filter(c => c.url.includes(':2001')).length;
    expect(toA()).toBe(3);
    for (let i = 0; i < 6; i++) await client.fetch('svc', '/');
    expect(toA()).toBe(3);
    now += 10_000;
    await client.fetch('svc', '/');
    await client.fetch('svc', '/');
    expect(toA()).toBe(4);
  });

  it('no instance: NoInstanceAvailableError naming the service (and whether a filter emptied it)', async () => {
    const empty = new DiscoveryClient(source([]));
    await expect(empty.fetch('svc', '/')).rejects.toThrow(NoInstanceAvailableError);
    await expect(empty.fetch('svc', '/')).rejects.toThrow(/no live instance of service "svc"/);
    const filtered = new DiscoveryClient(source([a]));
    const err = (await filtered
      .fetch('svc', '/', { filter: { version: '9' } })
      .catch((e: unknown) => e)) as NoInstanceAvailableError;
    expect(err.filtered).toBe(true);
  });

  it('rejects a path that is not absolute, and bad retries/timeout values', async () => {
    const client = new DiscoveryClient(source([a]), { fetch: fakeFetch(new Set(), []) });
    await expect(client.fetch('svc', 'http://evil/')).rejects.toThrow(/path must start with "\/"/);
    await expect(client.fetch('svc', '/', { retries: -1 })).rejects.toThrow(/retries/);
    await expect(client.fetch('svc', '/', { timeout: 0 })).rejects.toThrow(/timeout/);
  });
});
