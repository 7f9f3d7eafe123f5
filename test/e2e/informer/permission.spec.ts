import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import {
  EtcdModule,
  EtcdPermissionError,
  EtcdRegistryService,
  type EtcdModuleOptions,
} from '../../../lib/index.js';
import { EtcdServer, expectDuration, within } from '../../support/index.js';
import { AppTracker, bootApp } from '../../support/config-test-kit.js';
import { TEST_RETRY } from '../../support/nest-apps.js';

/**
 * A list or watch that etcd answers with "permission denied" is reported at once as an
 * EtcdPermissionError naming the prefix: never a wait of `connectTimeout`, never "Cannot reach
 * etcd" (etcd answered: it was reached). etcd with auth and RBAC, users set up with etcdctl.
 */
describe('informer: permission denied by etcd RBAC (real etcd)', () => {
  const ROOT_PASSWORD = 'root-Secret-6b1e';
  const ORDERS_PASSWORD = 'orders-Secret-2f9c';
  // Far longer than any answer takes: a rejection before it is an answer from etcd, not a timeout.
  const CONNECT_TIMEOUT = 30_000;
  let etcd: EtcdServer;
  const apps = new AppTracker();

  beforeAll(async () => {
    etcd = await EtcdServer.start({ auth: { rootPassword: ROOT_PASSWORD } });
    const ctl = (...args: string[]) => etcd.etcdctl(args);
    await ctl('role', 'add', 'orders-reader');
    await ctl(
      'role',
      'grant-permission',
      'orders-reader',
      'read',
      '/services/orders/',
      '--prefix=true',
    );
    await ctl(
      'role',
      'grant-permission',
      'orders-reader',
      'read',
      '/config/orders/',
      '--prefix=true',
    );
    await ctl('user', 'add', `orders:${ORDERS_PASSWORD}`, '--interactive=false');
    await ctl('user', 'grant-role', 'orders', 'orders-reader');
    await etcd.put('/services/orders/o-1', JSON.stringify({ host: '10.0.0.1', port: 80 }));
    await etcd.put('/services/billing/b-1', JSON.stringify({ host: '10.0.0.2', port: 80 }));
  });
  afterEach(async () => {
    await apps.closeAll();
  });
  afterAll(async () => {
    await etcd?.dispose();
  });

  async function boot(options: EtcdModuleOptions): Promise<INestApplication> {
    return apps.track(
      await bootApp({
        imports: [
          EtcdModule.forRoot({
            hosts: etcd.endpoint,
            retry: TEST_RETRY,
            connectTimeout: CONNECT_TIMEOUT,
            auth: { username: 'orders', password: ORDERS_PASSWORD },
            ...options,
          }),
        ],
      }),
    );
  }

  /** Runs `call`, asserts it settled well before connectTimeout and returns what it threw. */
  async function failure(call: () => Promise<unknown>, what: string): Promise<{ error: unknown }> {
    const started = Date.now();
    const error = await within(
      call().then(
        () => undefined,
        (err: unknown) => err,
      ),
      CONNECT_TIMEOUT + 10_000,
      `${what} settled`,
    );
    // "At once" = not after waiting for the connection: half the connectTimeout is generous for a
    // loaded machine (a refusal is one round trip) and still tells the two apart.
    expectDuration(Date.now() - started, CONNECT_TIMEOUT / 2, `${what} (a refusal, not a wait)`);
    return { error };
  }

  it('getInstances rejects at once and instances$ errors with EtcdPermissionError naming the prefix', async () => {
    const app = await boot({ config: false });
    const registry = app.get(EtcdRegistryService);

    const { error } = await failure(
      () => registry.getInstances('billing'),
      "getInstances('billing') without read permission",
    );
    expect(error).toBeInstanceOf(EtcdPermissionError);
    expect((error as Error).message).toContain('"/services/billing/"');
    expect((error as Error).message).toContain('"orders"');
    expect((error as Error).message).not.toMatch(/Cannot reach etcd/);

    const streamed = await failure(
      () =>
        new Promise((resolve, reject) => {
          registry.instances$('billing').subscribe({ next: resolve, error: reject });
        }),
      "instances$('billing') without read permission",
    );
    expect(streamed.error).toBeInstanceOf(EtcdPermissionError);

    // The readable service still works on the same connection.
    expect((await registry.getInstances('orders')).map(i => i.instanceId)).toEqual(['o-1']);
  });

  it('a role granted later is honoured by the next call (a refusal is not cached)', async () => {
    const app = await boot({ config: false });
    const registry = app.get(EtcdRegistryService);
    await expect(registry.getInstances('billing')).rejects.toBeInstanceOf(EtcdPermissionError);
    await etcd.etcdctl(['role', 'add', 'billing-reader']);
    await etcd.etcdctl([
      'role',
      'grant-permission',
      'billing-reader',
      'read',
      '/services/billing/',
      '--prefix=true',
    ]);
    await etcd.etcdctl(['user', 'grant-role', 'orders', 'billing-reader']);
    expect((await registry.getInstances('billing')).map(i => i.instanceId)).toEqual(['b-1']);
  });

  it('a config prefix the user may not read fails boot at once with EtcdPermissionError', async () => {
    const { error } = await failure(
      () => boot({ config: { prefix: '/config/secret/' } }),
      'boot with an unreadable config prefix',
    );
    expect(error).toBeInstanceOf(EtcdPermissionError);
    expect((error as Error).message).toContain('"/config/secret/"');
  });
});
