import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { EtcdAdmin } from '../../lib/admin/index.js';
import { EtcdConsoleModule, type EtcdConsoleOptions } from '../../lib/console/index.js';

/** What the fake admin was asked to write. */
interface FakeAdminWrites {
  puts: Array<{ service: string; key: string; text: string; options: Record<string, unknown> }>;
}

/**
 * An EtcdAdmin stand-in for unit specs of the console's HTTP edges (routing, forms, CSRF, escaping):
 * one service `shop<b>` whose names hold markup, one key `limits.yaml` whose validation refuses a
 * negative number. The real admin core is covered by the browser spec against real etcd.
 */
function fakeAdmin(writes: FakeAdminWrites = { puts: [] }): EtcdAdmin {
  const fake = {
    services: () =>
      Promise.resolve([{ name: 'shop<b>', instances: 1, reporting: 1, rejecting: 0 }]),
    instances: () =>
      Promise.resolve([
        {
          serviceName: 'shop',
          instanceId: 'i-<1>',
          host: '127.0.0.1',
          port: 80,
          metadata: { zone: 'eu-1', password: 'hunter2', note: '<script>x()</script>' },
          weight: 1,
          leaseTtlLeft: 7,
          configRevision: 42,
          rejectedKeys: 0,
        },
      ]),
    status: () =>
      Promise.resolve([
        {
          serviceName: 'shop',
          instanceId: 'i-<1>',
          prefix: '/config/shop/',
          shared: [],
          profiles: ['canary'],
          revision: 42,
          registered: true,
          keys: {
            'limits.yaml': {
              revision: 40,
              source: '/config/shop/limits.yaml',
              state: 'applied',
              schema: 'abcdef0123456789',
            },
          },
        },
      ]),
    get: (_service: string, key: string, options: { profile?: string } = {}) =>
      Promise.resolve({
        key,
        etcdKey: `/config/shop/${options.profile ? `@${options.profile}/` : ''}${key}`,
        text: options.profile ? undefined : 'max: 5\n',
        revision: options.profile ? 0 : 40,
        version: options.profile ? 0 : 2,
        format: 'yaml',
      }),
    list: (_service: string, options: { profile?: string } = {}) =>
      Promise.resolve(
        options.profile
          ? []
          : [
              {
                key: 'limits.yaml',
                etcdKey: '/config/shop/limits.yaml',
                text: 'max: 5\n',
                revision: 40,
                version: 2,
                format: 'yaml',
              },
            ],
      ),
    affected: () =>
      Promise.resolve([{ instanceId: 'i-<1>', configKey: 'limits.yaml', layer: 'prefix' }]),
    history: () =>
      Promise.resolve([
        { revision: 40, version: 2, deleted: false, text: 'max: 5\n', decodes: true },
        { revision: 30, version: 1, deleted: false, text: 'max: 4\n', decodes: true },
      ]),
    audit: () =>
      Promise.resolve([
        {
          actor: 'ann',
          time: '2026-12-06T12:00:00Z',
          etcdKey: '/config/shop/limits.yaml',
          action: 'put',
          oldRevision: 30,
          newRevision: 40,
        },
      ]),
    validate: (_service: string, _key: string, text: string) =>
      Promise.resolve(
        text.includes('-')
          ? {
              etcdKey: '/config/shop/limits.yaml',
              format: 'yaml',
              ok: false,
              instances: [
                {
                  instanceId: 'i-<1>',
                  ok: false,
                  reason: 'max: Too small: expected number to be >0',
                  layer: 'prefix',
                },
              ],
            }
          : {
              etcdKey: '/config/shop/limits.yaml',
              format: 'yaml',
              ok: true,
              instances: [{ instanceId: 'i-<1>', ok: true, layer: 'prefix' }],
            },
      ),
    put: (service: string, key: string, text: string, options: Record<string, unknown>) => {
      writes.puts.push({ service, key, text, options });
      return Promise.resolve({ revision: 50 });
    },
    close: () => Promise.resolve(),
  };
  return fake as unknown as EtcdAdmin;
}

/** The console's HTTP edges on express (fastify: test/e2e/console), on a fake admin core. */
describe('console over HTTP (fake admin core)', () => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(
    options: Partial<EtcdConsoleOptions>,
    writes?: FakeAdminWrites,
  ): Promise<string> {
    @Module({ imports: [EtcdConsoleModule.forRoot({ admin: fakeAdmin(writes), ...options })] })
    class HostModule {}
    app = await NestFactory.create(HostModule, { logger: ['error'] });
    app.setGlobalPrefix('api');
    await app.listen(0, '127.0.0.1');
    return `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/api/etcd`;
  }

  it('serves every page under the host global prefix, escaped, with a strict CSP and no secret', async () => {
    const base = await start({});
    for (const path of [
      '',
      '/services/shop',
      '/services/shop/config',
      '/services/shop/key?key=limits.yaml',
      '/services/shop/key?key=limits.yaml&profile=canary',
      '/services/shop/diff?key=limits.yaml&a=30&b=40',
      '/services/shop/audit',
    ]) {
      const res = await fetch(base + path);
      const body = await res.text();
      expect([path, res.status]).toEqual([path, 200]);
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(body).toContain('href="/api/etcd/assets/console.css"');
      expect(body).not.toMatch(/<script>x|shop<b>|<1>|hunter2/);
    }
    const js = await fetch(`${base}/assets/console.js`);
    expect(js.headers.get('content-type')).toContain('text/javascript');
  });

  it('read-only by default: no form is rendered and every POST is refused', async () => {
    const writes: FakeAdminWrites = { puts: [] };
    const base = await start({}, writes);
    const page = await (await fetch(`${base}/services/shop/key?key=limits.yaml`)).text();
    expect(page).not.toContain('<form method="post"');
    const res = await fetch(`${base}/services/shop/publish`, {
      method: 'POST',
      body: new URLSearchParams({ key: 'limits.yaml', text: 'max: 1' }),
    });
    expect(res.status).toBe(403);
    expect(writes.puts).toEqual([]);
  });

  it('writable: preview validates, publish writes with the token of the cookie and the actor', async () => {
    const writes: FakeAdminWrites = { puts: [] };
    const base = await start(
      { readOnly: false, actor: req => String(req.headers['x-user']) },
      writes,
    );
    const page = await fetch(`${base}/services/shop/key?key=limits.yaml`);
    const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
    const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const post = (
      path: string,
      fields: Record<string, string>,
      headers: Record<string, string> = {},
    ) =>
      fetch(`${base}/services/shop/${path}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'x-user': 'ann', ...headers },
        body: new URLSearchParams({ key: 'limits.yaml', expectRevision: '40', ...fields }),
      });

    const invalid = await post('preview', { _csrf: token, text: 'max: -1' });
    expect(invalid.status).toBe(422);
    expect(await invalid.text()).toContain('Too small');
    const valid = await post('preview', { _csrf: token, text: 'max: 9\r\n' });
    expect(valid.status).toBe(200);
    expect(await valid.text()).toMatch(/class="add">\+ max: 9/);

    expect((await post('publish', { text: 'max: 9\n' })).status).toBe(403);
    expect(
      (await post('publish', { _csrf: token, text: 'max: 9\n' }, { origin: 'http://evil.example' }))
        .status,
    ).toBe(403);
    expect(writes.puts).toEqual([]);

    const published = await post('publish', { _csrf: token, text: 'max: 9\n' });
    expect(published.status).toBe(303);
    expect(published.headers.get('location')).toBe(
      '/api/etcd/services/shop/key?key=limits.yaml&done=published&revision=50',
    );
    expect(writes.puts).toEqual([
      {
        service: 'shop',
        key: 'limits.yaml',
        text: 'max: 9\n',
        options: { profile: undefined, expectRevision: 40, actor: 'ann' },
      },
    ]);
  });

  it('boots without etcd: its own admin connects on the first request, and a page says etcd is unreachable (503)', async () => {
    @Module({
      imports: [
        EtcdConsoleModule.forRoot({
          connection: { hosts: 'http://127.0.0.1:9', connectTimeout: 300 },
        }),
      ],
    })
    class HostModule {}
    app = await NestFactory.create(HostModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    const res = await fetch(`${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/etcd`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('127.0.0.1:9');
  });

  it('live regions: a server-sent event carries the re-rendered, escaped table', async () => {
    const base = await start({ refreshInterval: 100 });
    const abort = new AbortController();
    const res = await fetch(`${base}/services/shop/events`, { signal: abort.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const chunk = await res.body!.getReader().read();
    abort.abort();
    const data = /data: (.*)/.exec(new TextDecoder().decode(chunk.value))![1]!;
    const update = JSON.parse(data) as { id: string; html: string };
    expect(update.id).toBe('instances');
    expect(update.html).toContain('i-&lt;1&gt;');
    expect(update.html).toContain('password=(hidden)');
  });
});
