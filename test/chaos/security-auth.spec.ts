import 'reflect-metadata';
import { Etcd3, EtcdPermissionDeniedError } from 'etcd3';
import { inspect } from 'node:util';
import { EtcdConnection, ETCD_CLIENT, ETCD_RESOLVED_OPTIONS } from '../support/internals.js';
import {
  EtcdAuthError,
  EtcdConfigService,
  EtcdPermissionError,
  EtcdRegistryService,
} from '../../lib/index.js';
import { nextValue, waitFor, expectDuration } from '../support/index.js';
import { FAST_TIMINGS, bootApp, useChaosSuite } from '../support/chaos-helpers.js';

/**
 * etcd with auth and RBAC: least-privilege users, wrong passwords, and no password in any log line,
 * error or `inspect()` output.
 */

const ROOT_PASSWORD = 'r00t-Secret-9f3b';
const READER_PASSWORD = 'reader-Secret-5d1a';
const ORDERS_PASSWORD = 'orders-Secret-7c2e';
const NOBODY_PASSWORD = 'nobody-Secret-3a8f';
const SECRETS = [ROOT_PASSWORD, READER_PASSWORD, ORDERS_PASSWORD, NOBODY_PASSWORD];

const deepInspect = (value: unknown) => inspect(value, { depth: 10, showHidden: true });

describe('chaos: auth, RBAC and secrets', () => {
  const suite = useChaosSuite({ etcd: { auth: { rootPassword: ROOT_PASSWORD } } });
  const { apps, logs } = suite;
  let root: Etcd3;
  const inspected: string[] = [];

  const expectNoSecret = (text: string, what: string) => {
    for (const secret of SECRETS) {
      const at = text.indexOf(secret);
      if (at >= 0) {
        throw new Error(
          `a password appears in ${what}: ...${text.slice(Math.max(0, at - 300), at).replaceAll(secret, '***')}***`,
        );
      }
    }
  };

  beforeAll(async () => {
    const ctl = (...args: string[]) => suite.etcd.etcdctl(args);
    await ctl('role', 'add', 'app-a-reader');
    await ctl(
      'role',
      'grant-permission',
      'app-a-reader',
      'read',
      '/config/app-a/',
      '--prefix=true',
    );
    await ctl('user', 'add', `reader:${READER_PASSWORD}`, '--interactive=false');
    await ctl('user', 'grant-role', 'reader', 'app-a-reader');
    await ctl('role', 'add', 'orders-writer');
    await ctl(
      'role',
      'grant-permission',
      'orders-writer',
      'readwrite',
      '/services/orders/',
      '--prefix=true',
    );
    await ctl('user', 'add', `orders:${ORDERS_PASSWORD}`, '--interactive=false');
    await ctl('user', 'grant-role', 'orders', 'orders-writer');
    await ctl('user', 'add', `nobody:${NOBODY_PASSWORD}`, '--interactive=false');
    await suite.etcd.put('/config/app-a/greeting', 'hello a');
    await suite.etcd.put('/config/app-b/secret', 'for b only');
    root = new Etcd3({
      hosts: suite.etcd.endpoint,
      auth: { username: 'root', password: ROOT_PASSWORD },
    });
    suite.closables.push(root);
  });

  afterAll(() => {
    // last line of defence, after useChaosSuite's afterAll (apps closed, etcd gone, capture
    // uninstalled): nothing captured during the whole file holds a password
    expectNoSecret(logs.text, 'the captured logs');
  });

  it('a reader of /config/app-a/ boots, reads, cannot read elsewhere, and set() fails clearly', async () => {
    const app = await bootApp({
      hosts: suite.etcd.endpoint,
      ...FAST_TIMINGS,
      auth: { username: 'reader', password: READER_PASSWORD },
      config: { prefix: '/config/app-a/' },
      registry: false,
    });
    apps.push(app);
    const config = app.get(EtcdConfigService);
    expect(config.get('greeting')).toBe('hello a');
    await suite.etcd.put('/config/app-a/greeting', 'hello again');
    await waitFor(() => config.get('greeting') === 'hello again');

    const rawReader = new Etcd3({
      hosts: suite.etcd.endpoint,
      auth: { username: 'reader', password: READER_PASSWORD },
    });
    try {
      await expect(rawReader.get('/config/app-b/secret').string()).rejects.toBeInstanceOf(
        EtcdPermissionDeniedError,
      );
    } finally {
      rawReader.close();
    }

    const started = Date.now();
    const error = await config.set('greeting', 'overwrite').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(EtcdPermissionError);
    expect((error as Error).message).toContain('/config/app-a/greeting');
    expect((error as Error).message).toContain('"reader"');
    expectDuration(
      Date.now() - started,
      15_000,
      'boot refused for a user without permission (not a hang)',
    );
    expect(config.get('greeting')).toBe('hello again');
    inspected.push(deepInspect(error));
  });

  it('the boot connect check needs no key permission (user without any role)', async () => {
    const app = await bootApp({
      hosts: suite.etcd.endpoint,
      ...FAST_TIMINGS,
      auth: { username: 'nobody', password: NOBODY_PASSWORD },
      config: false,
      registry: false,
    });
    apps.push(app);
    await expect(app.get(EtcdConnection).connect()).resolves.toBeUndefined();
  });

  it('a writer of its own service prefix registers and deregisters', async () => {
    const app = await bootApp({
      hosts: suite.etcd.endpoint,
      ...FAST_TIMINGS,
      auth: { username: 'orders', password: ORDERS_PASSWORD },
      config: false,
      registry: { serviceName: 'orders', instanceId: 'o-1', host: '127.0.0.1', port: 5300, ttl: 3 },
    });
    const registry = app.get(EtcdRegistryService);
    await nextValue(registry.status$, s => s === 'registered', 10_000);
    expect(JSON.parse((await root.get('/services/orders/o-1').string()) ?? '{}')).toMatchObject({
      host: '127.0.0.1',
      port: 5300,
    });
    expect((await registry.getInstances('orders')).map(i => i.instanceId)).toEqual(['o-1']);
    await app.close();
    expect(await root.get('/services/orders/o-1').string()).toBeNull();
  });

  it('a wrong password fails boot with EtcdAuthError naming the user, not the password', async () => {
    const wrong = `${READER_PASSWORD}-wrong`;
    const started = Date.now();
    const error = await bootApp({
      hosts: suite.etcd.endpoint,
      ...FAST_TIMINGS,
      auth: { username: 'reader', password: wrong },
      config: { prefix: '/config/app-a/' },
    }).then(
      app => {
        apps.push(app);
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(EtcdAuthError);
    expect((error as Error).message).toContain('"reader"');
    expectDuration(Date.now() - started, 15_000, 'boot refused for a wrong password (not a hang)');
    const text = deepInspect(error) + String((error as Error).stack);
    expect(text).not.toContain(wrong);
    inspected.push(text);
  });

  it('no password in inspect() of the services, the client, the connection or the options', async () => {
    const app = await bootApp({
      hosts: suite.etcd.endpoint,
      ...FAST_TIMINGS,
      auth: { username: 'root', password: ROOT_PASSWORD },
      registry: { serviceName: 'orders', instanceId: 'o-2', host: '127.0.0.1', port: 5301, ttl: 3 },
    });
    apps.push(app);
    const registry = app.get(EtcdRegistryService);
    await nextValue(registry.status$, s => s === 'registered', 10_000);
    await registry.getInstances('orders');
    const objects: Record<string, unknown> = {
      EtcdConfigService: app.get(EtcdConfigService),
      EtcdRegistryService: registry,
      client: app.get(ETCD_CLIENT),
      EtcdConnection: app.get(EtcdConnection),
      resolvedOptions: app.get(ETCD_RESOLVED_OPTIONS),
    };
    // the probe must be able to fail: the password is reachable from these objects
    expect(app.get(EtcdConnection).options.auth?.password).toBe(ROOT_PASSWORD);
    for (const [name, object] of Object.entries(objects)) {
      const text = deepInspect(object);
      expect(text.length).toBeGreaterThan(0);
      expectNoSecret(text, `inspect(${name})`);
      expectNoSecret(JSON.stringify(safeJson(object)), `JSON of ${name}`);
    }
    for (const text of inspected) expectNoSecret(text, 'an inspected error');
    expectNoSecret(logs.text, 'the captured logs');
  });
});

/** JSON of an object graph, skipping cycles and values JSON cannot hold. */
function safeJson(value: unknown): unknown {
  const seen = new WeakSet<object>();
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'bigint') return String(v);
      if (v && typeof v === 'object') {
        if (seen.has(v)) return undefined;
        seen.add(v);
      }
      return v;
    }) ?? 'null',
  );
}
