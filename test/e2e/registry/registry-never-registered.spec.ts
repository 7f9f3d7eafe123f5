import 'reflect-metadata';
import { LogCapture } from '../../support/log-capture.js';
import { registryOf, startApp } from '../../support/registry-test-app.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';
import { within } from '../../support/jest-helpers.js';

// "deregistered" is logged only by an instance that was registered.
describe('registry: the "deregistered" line (real etcd)', () => {
  const suite = useEtcdSuite({ restartIfStopped: true });
  const logs = new LogCapture();
  beforeEach(() => {
    logs.lines.length = 0;
    logs.install();
  });
  afterEach(() => logs.uninstall());

  const deregisteredLines = () =>
    logs.lines.filter(l => l.context === 'EtcdRegistry' && /\bderegistered\b/.test(l.message));

  it('is logged once by an instance that was registered', async () => {
    const app = await startApp({
      hosts: suite.etcd.endpoint,
      registry: { serviceName: 'dereg-yes', host: '127.0.0.1', port: 4301, ttl: 5 },
    });
    suite.apps.push(app);
    await registryOf(app).register();
    await app.close();
    expect(deregisteredLines().map(l => l.message)).toEqual(['deregistered dereg-yes']);
  });

  it('is not logged by an instance that never registered itself (autoRegister: false)', async () => {
    const app = await startApp({
      hosts: suite.etcd.endpoint,
      registry: { serviceName: 'dereg-no', host: '127.0.0.1', port: 4302, autoRegister: false },
    });
    suite.apps.push(app);
    await app.close();
    expect(deregisteredLines()).toEqual([]);
  });

  it('is not logged when the registration was still waiting for etcd at shutdown', async () => {
    const app = await startApp({
      hosts: suite.etcd.endpoint,
      registry: {
        serviceName: 'dereg-pending',
        host: '127.0.0.1',
        port: 4303,
        autoRegister: false,
      },
    });
    suite.apps.push(app);
    await suite.etcd.stop();
    const registry = registryOf(app);
    const pending = registry.register().catch((err: unknown) => err);
    expect(registry.status).toBe('registering');
    await within(app.close(), 20_000, 'app.close() with etcd stopped and a register() pending');
    await within(pending, 15_000, 'the pending register() settled after app.close()');
    expect(deregisteredLines()).toEqual([]);
    expect(
      logs.lines.filter(
        l => l.context === 'EtcdRegistry' && /stopped registering dereg-pending/.test(l.message),
      ),
    ).toHaveLength(1);
  });
});
