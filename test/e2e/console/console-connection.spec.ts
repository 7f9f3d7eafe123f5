import type { INestApplication } from '@nestjs/common';
import type { EtcdAdmin } from '../../../lib/admin/index.js';
import { EtcdConsoleModule } from '../../../lib/console/index.js';
import { EtcdModule } from '../../../lib/index.js';
import type { Etcd3 } from 'etcd3';
import { ConsoleRuntime, ETCD_CLIENT, EtcdConnection } from '../../support/internals.js';
import { bootApp } from '../../support/config-test-kit.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';
import { writeStatus } from '../../support/admin-test-kit.js';

/** The connection an admin works on (private: the identity is what this spec is about). */
function connectionOf(admin: EtcdAdmin): EtcdConnection {
  return (admin as unknown as { ctx: { connection: EtcdConnection } }).ctx.connection;
}

/** One etcd client per app: the console's admin core on the EtcdModule's connection. */
describe('EtcdConsoleModule in a host with EtcdModule', () => {
  const suite = useEtcdSuite();
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it("builds its admin on the module's connection and never closes it", async () => {
    await writeStatus(suite.etcd, 'orders', { instanceId: 'a' });
    app = await bootApp({
      imports: [
        EtcdModule.forRoot({ hosts: suite.etcd.endpoint, config: false }),
        EtcdConsoleModule.forRoot(),
      ],
    });
    const runtime = app.get(ConsoleRuntime, { strict: false });
    const admin = await runtime.admin();
    const moduleConnection = app.get(EtcdConnection, { strict: false });
    expect(connectionOf(admin)).toBe(moduleConnection);
    expect((await admin.services()).map(s => s.name)).toEqual(['orders']);

    // The console's admin releasing what it holds leaves the module's client working.
    await admin.close();
    const client = app.get<Etcd3>(ETCD_CLIENT, { strict: false });
    expect(await client.get('/services/orders/a').string()).toContain('"instanceId":"a"');
  });

  it('connects its own admin when the host has no EtcdModule (and closes it with the app)', async () => {
    await writeStatus(suite.etcd, 'orders', { instanceId: 'a' });
    app = await bootApp({
      imports: [EtcdConsoleModule.forRoot({ connection: { hosts: suite.etcd.endpoint } })],
    });
    const admin = await app.get(ConsoleRuntime, { strict: false }).admin();
    expect(() => app!.get(EtcdConnection, { strict: false })).toThrow();
    expect((await admin.services()).map(s => s.name)).toContain('orders');
  });
});
