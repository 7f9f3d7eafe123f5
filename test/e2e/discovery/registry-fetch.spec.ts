import 'reflect-metadata';
import {
  NoInstanceAvailableError,
  ServiceCallError,
  type EtcdRegistryService,
  type ServiceInstance,
} from '../../../lib/index.js';
import { freePort, nextValue, waitFor } from '../../support/index.js';
import {
  instanceJson,
  startEchoServer,
  startResettingServer,
  startSilentServer,
} from '../../support/loopback-servers.js';
import { registryOf, startApp } from '../../support/registry-test-app.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';

interface Echo {
  id: string;
  method: string;
  url: string;
  body: string;
  header: string | null;
}

// Real etcd, real HTTP/TCP servers on loopback; the caller is an in-process Nest app.
describe('registry.fetch / choose with options (real etcd, loopback servers)', () => {
  const suite = useEtcdSuite();
  const { apps, closables: servers } = suite;

  async function caller(extra: Record<string, unknown> = {}): Promise<EtcdRegistryService> {
    const app = await startApp({ hosts: suite.etcd.endpoint, extra });
    apps.push(app);
    return registryOf(app);
  }

  /** Registers `port` under `service/id` (a plain key, as a script would write it). */
  async function register(
    service: string,
    id: string,
    port: number,
    metadata: Record<string, unknown> = {},
  ): Promise<void> {
    await suite.etcd.put(`/services/${service}/${id}`, instanceJson(port, metadata));
  }

  /** Waits until the caller's registry lists exactly `ids` for `service`. */
  async function listed(registry: EtcdRegistryService, service: string, ids: string[]) {
    const want = [...ids].sort().join();
    await nextValue(
      registry.instances$(service),
      list => list.map(i => i.instanceId).join() === want,
      10_000,
    );
  }

  async function echo(service: string, id: string, metadata: Record<string, unknown> = {}) {
    const server = await startEchoServer({ id });
    servers.push(server);
    await register(service, id, server.port, metadata);
    return server;
  }

  const body = async (res: Response) => (await res.json()) as Echo;

  it('sends the request (method, path, query, headers, body) to live instances, round-robin', async () => {
    const registry = await caller();
    await Promise.all(['a', 'b', 'c'].map(id => echo('rr', id)));
    await listed(registry, 'rr', ['a', 'b', 'c']);

    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await registry.fetch('rr', `/items/${i}?q=x`);
      expect(res.status).toBe(200);
      const answer = await body(res);
      expect(answer.url).toBe(`/items/${i}?q=x`);
      expect(answer.method).toBe('GET');
      ids.push(answer.id);
    }
    expect(ids).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);

    const posted = await body(
      await registry.fetch('rr', '/orders', {
        method: 'POST',
        headers: { 'x-test': 'yes', 'content-type': 'application/json' },
        body: JSON.stringify({ n: 1 }),
      }),
    );
    expect(posted).toMatchObject({
      method: 'POST',
      url: '/orders',
      header: 'yes',
      body: '{"n":1}',
    });
  });

  it('filter by metadata object or predicate, strategy, and a per-call zone', async () => {
    const registry = await caller();
    await echo('flt', 'v1', { version: '1', zone: 'z1' });
    await echo('flt', 'v2', { version: '2', zone: 'z2' });
    await listed(registry, 'flt', ['v1', 'v2']);

    for (let i = 0; i < 4; i++) {
      expect((await body(await registry.fetch('flt', '/', { filter: { version: '2' } }))).id).toBe(
        'v2',
      );
      const byPredicate = await registry.fetch('flt', '/', {
        filter: (i: ServiceInstance) => i.metadata.version === '1',
        strategy: 'random',
      });
      expect((await body(byPredicate)).id).toBe('v1');
      expect((await body(await registry.fetch('flt', '/', { zone: 'z2' }))).id).toBe('v2');
    }
    expect((await registry.choose('flt', { filter: { version: '1' } }))?.instanceId).toBe('v1');
    expect((await registry.choose('flt', { zone: 'z1' }))?.instanceId).toBe('v1');
    // the old signature keeps working
    expect(['v1', 'v2']).toContain((await registry.choose('flt', 'weighted'))?.instanceId);
    await expect(registry.fetch('flt', '/', { filter: { version: '3' } })).rejects.toThrow(
      NoInstanceAvailableError,
    );
    await expect(registry.fetch('nobody-here', '/')).rejects.toThrow(
      /no live instance of service "nobody-here" is registered/,
    );
  });

  it('registry.zone: published as metadata.zone; same-zone instances first, others only when none of the zone is available', async () => {
    const app = await startApp({
      hosts: suite.etcd.endpoint,
      registry: { serviceName: 'zoned-caller', instanceId: 'me', zone: 'eu-1' },
    });
    apps.push(app);
    const registry = registryOf(app);
    expect(registry.zone).toBe('eu-1');
    await waitFor(async () => (await suite.etcd.get('/services/zoned-caller/me')) !== undefined, {
      message: 'the caller did not register',
    });
    const published = JSON.parse((await suite.etcd.get('/services/zoned-caller/me')) ?? '{}') as {
      metadata: Record<string, unknown>;
    };
    expect(published.metadata.zone).toBe('eu-1');

    const local = await echo('zsvc', 'local', { zone: 'eu-1' });
    await echo('zsvc', 'remote-1', { zone: 'us-1' });
    await echo('zsvc', 'remote-2', {});
    await listed(registry, 'zsvc', ['local', 'remote-1', 'remote-2']);
    for (let i = 0; i < 5; i++)
      expect((await body(await registry.fetch('zsvc', '/'))).id).toBe('local');

    // the local instance dies without deregistering: the caller fails over to other zones at once
    await local.close();
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await body(await registry.fetch('zsvc', '/'))).id);
    expect([...seen].sort()).toEqual(['remote-1', 'remote-2']);

    // a local instance comes back (new registration): it takes the traffic again
    await echo('zsvc', 'local-2', { zone: 'eu-1' });
    await listed(registry, 'zsvc', ['local', 'local-2', 'remote-1', 'remote-2']);
    await suite.etcd.del('/services/zsvc/local');
    await listed(registry, 'zsvc', ['local-2', 'remote-1', 'remote-2']);
    for (let i = 0; i < 4; i++)
      expect((await body(await registry.fetch('zsvc', '/'))).id).toBe('local-2');
  });

  it('passive health: 3 connection failures eject an instance for ejectFor, from fetch and choose; it comes back by itself', async () => {
    const registry = await caller({ passiveHealth: { failures: 3, ejectFor: 1500 } });
    const broken = await startResettingServer();
    servers.push(broken);
    await register('ph', 'broken', broken.port);
    await echo('ph', 'good');
    await listed(registry, 'ph', ['broken', 'good']);

    // every call succeeds (GET is retried on the good instance) until the 3rd failure ejects it
    let beforeThird = 0;
    for (let i = 0; i < 20 && broken.connections < 3; i++) {
      beforeThird = Date.now();
      expect((await body(await registry.fetch('ph', '/'))).id).toBe('good');
    }
    expect(broken.connections).toBe(3);
    const afterThird = Date.now();
    const picks = new Set<string | undefined>();
    for (let i = 0; i < 6; i++) {
      picks.add((await registry.choose('ph'))?.instanceId);
      expect((await body(await registry.fetch('ph', '/'))).id).toBe('good');
    }
    // Only meaningful while the ejection surely lasts (a very slow machine may have passed it).
    if (Date.now() - afterThird < 1400) {
      expect([...picks]).toEqual(['good']);
      expect(broken.connections).toBe(3);
    }

    // after ejectFor, calls reach it again without anyone doing anything
    await waitFor(
      async () => {
        await registry.fetch('ph', '/');
        return broken.connections > 3;
      },
      { timeout: 6000, interval: 50, message: 'the ejected instance was never tried again' },
    );
    // the ejection started after `beforeThird`, and lasted 1500 ms
    expect(Date.now() - beforeThird).toBeGreaterThanOrEqual(1500);
  });

  it('never ejects every instance: with all of them failing, calls are still attempted', async () => {
    const registry = await caller({ passiveHealth: { failures: 1, ejectFor: 60_000 } });
    const [r1, r2] = await Promise.all([startResettingServer(), startResettingServer()]);
    servers.push(r1, r2);
    await register('allbad', 'r1', r1.port);
    await register('allbad', 'r2', r2.port);
    await listed(registry, 'allbad', ['r1', 'r2']);
    for (let i = 0; i < 3; i++) {
      const err = (await registry
        .fetch('allbad', '/')
        .catch((e: unknown) => e)) as ServiceCallError;
      expect(err).toBeInstanceOf(ServiceCallError);
      expect(err.attempts.length).toBeGreaterThanOrEqual(2);
    }
    expect(r1.connections + r2.connections).toBeGreaterThanOrEqual(6);
    expect((await registry.choose('allbad'))?.instanceId).toMatch(/^r[12]$/);
  });

  it('retries: POST is not retried after a reset unless retryNonIdempotent; a refused GET is', async () => {
    const registry = await caller();
    const broken = await startResettingServer();
    servers.push(broken);
    const refusedPort = await freePort();
    await register('rt', 'a-broken', broken.port);
    await register('rt', 'b-refused', refusedPort);
    await echo('rt', 'c-good');
    await listed(registry, 'rt', ['a-broken', 'b-refused', 'c-good']);

    // round-robin starts at a-broken: the POST fails there and is not sent anywhere else
    const err = (await registry
      .fetch('rt', '/pay', { method: 'POST', body: 'x' })
      .catch((e: unknown) => e)) as ServiceCallError;
    expect(err).toBeInstanceOf(ServiceCallError);
    expect(err.attempts).toHaveLength(1);
    expect(err.attempts[0]?.instanceId).toBe('a-broken');
    expect(err.message).toMatch(/call to service "rt" failed after 1 attempt: a-broken/);

    // b-refused is next: a GET goes on to c-good
    const got = await body(await registry.fetch('rt', '/read'));
    expect(got.id).toBe('c-good');

    // with retryNonIdempotent, a POST reaches the good instance whatever it tried first
    for (let i = 0; i < 3; i++) {
      const res = await registry.fetch('rt', '/pay', {
        method: 'POST',
        body: 'x',
        retryNonIdempotent: true,
      });
      expect((await body(res)).id).toBe('c-good');
    }
  });

  it('timeout: an instance that accepts but never answers is given up after `timeout`, and the GET is retried', async () => {
    const registry = await caller();
    const silent = await startSilentServer();
    servers.push(silent);
    await register('slow', 'a-silent', silent.port);
    await echo('slow', 'b-good');
    await listed(registry, 'slow', ['a-silent', 'b-good']);
    const started = Date.now();
    const res = await registry.fetch('slow', '/', { timeout: 300 });
    expect((await body(res)).id).toBe('b-good');
    expect(silent.connections).toBeGreaterThanOrEqual(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);

    // only the silent instance left: each attempt times out, the error says so
    await suite.etcd.del('/services/slow/b-good');
    await listed(registry, 'slow', ['a-silent']);
    const err = (await registry
      .fetch('slow', '/', { timeout: 200, retries: 1 })
      .catch((e: unknown) => e)) as ServiceCallError;
    expect(err).toBeInstanceOf(ServiceCallError);
    expect(err.attempts.map(a => [a.instanceId, a.reason])).toEqual([
      ['a-silent', 'TimeoutError'],
      ['a-silent', 'TimeoutError'],
    ]);
  });
});
