import 'reflect-metadata';
import { EtcdStoppedError, type RegistryStatus, type ServiceInstance } from '../../../lib/index.js';
import { ChildApp } from '../../fixtures/registry/child-app.launcher.js';
import { nextValue, waitFor, within } from '../../support/index.js';
import { LogCapture } from '../../support/log-capture.js';
import { registryOf, startApp } from '../../support/registry-test-app.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';

/** Anything that says the app crashed or reported its normal shutdown as an error. */
const CRASH = /\bERROR\b|Unhandled|uncaught|stopped before it completed/i;

// Boot and shutdown edges (SIGTERM during boot, a duplicate instance id, a blocked event loop...),
// with apps as child processes where a process must receive a signal or block its event loop.
describe('registry: boot and shutdown edges (SIGTERM during boot, duplicate instance id, blocked loop)', () => {
  const suite = useEtcdSuite({ buildLib: true });
  const { apps } = suite;

  const points: Array<{ name: string; on: string; port?: number }> = [
    { name: 'before listen (while Nest initialises)', on: 'start', port: 4101 },
    { name: 'while registering, port given (boot waits for etcd)', on: 'registering ', port: 4102 },
    { name: 'while registering, port from the HTTP server', on: 'registering ' },
    { name: 'right after etcd confirmed the key', on: 'registered /services/' },
  ];

  it.each(points)(
    'SIGTERM $name: a clean exit (the signal, not exit 1), no ERROR line, no key left',
    async ({ on, port }) => {
      const serviceName = `boot-term-${points.findIndex(p => p.on === on && p.port === port)}`;
      const child = await ChildApp.start({
        hosts: suite.etcd.endpoint,
        serviceName,
        instanceId: 'b-1',
        ttl: 30, // far longer than the test: only a revoke removes the key
        port,
        waitForReady: false,
        env: { CHILD_SIGTERM_ON: on },
      });
      await child.waitForLine(line => line === 'SENDING SIGTERM', { timeout: 20_000 });
      const exit = await within(child.exited, 20_000, 'child exit after its signal');
      // Nest re-raises the signal once its shutdown hooks ran: the exit of a clean shutdown.
      expect({ exit, crash: child.log.match(CRASH)?.[0] }).toEqual({
        exit: { code: null, signal: 'SIGTERM' },
        crash: undefined,
      });
      expect(await suite.etcd.get(`/services/${serviceName}/b-1`)).toBeUndefined();
    },
  );

  it('app.close() before the registration completed: no ERROR line, status ends deregistered', async () => {
    const logger = new LogCapture();
    // No port: registration starts when the HTTP server listens, close() follows at once.
    const app = await startApp({
      hosts: suite.etcd.endpoint,
      logger,
      registry: { serviceName: 'early-close', instanceId: 'e-1', host: '127.0.0.1' },
    });
    const statuses: RegistryStatus[] = [];
    registryOf(app).status$.subscribe(s => statuses.push(s));
    await app.close();
    expect(logger.lines.filter(l => l.level === 'error')).toEqual([]);
    expect(statuses.at(-1)).toBe('deregistered');
    expect(await suite.etcd.get('/services/early-close/e-1')).toBeUndefined();
  });

  it('register() once shutdown began rejects with EtcdStoppedError and publishes nothing', async () => {
    const app = await startApp({
      hosts: suite.etcd.endpoint,
      registry: {
        serviceName: 'late-register',
        instanceId: 'l-1',
        host: '127.0.0.1',
        port: 4103,
        autoRegister: false,
      },
    });
    const registry = registryOf(app);
    await app.close();
    await expect(registry.register()).rejects.toBeInstanceOf(EtcdStoppedError);
    expect(registry.status).toBe('deregistered');
    expect(await suite.etcd.get('/services/late-register/l-1')).toBeUndefined();
  });

  it('two processes with the same serviceName + instanceId: the second says so in one error line, keeps serving, never fights', async () => {
    const observer = await startApp({ hosts: suite.etcd.endpoint });
    apps.push(observer);
    const seen: ServiceInstance[][] = [];
    const sub = registryOf(observer)
      .instances$('dup-svc')
      .subscribe(list => seen.push(list));
    try {
      const first = await ChildApp.start({
        hosts: suite.etcd.endpoint,
        serviceName: 'dup-svc',
        instanceId: 'dup-1',
        ttl: 3,
      });
      await waitFor(() => seen.at(-1)?.[0]?.port === first.port, {
        timeout: 10_000,
        message: 'the observer did not see the first instance',
      });
      const second = await ChildApp.start({
        hosts: suite.etcd.endpoint,
        serviceName: 'dup-svc',
        instanceId: 'dup-1',
        ttl: 3,
        waitForReady: false,
      });
      const conflict = await second.waitForLine(line => line.includes('held by another writer'), {
        timeout: 15_000,
      });
      expect(conflict).toMatch(
        /ERROR \[EtcdRegistry\] registration key \/services\/dup-svc\/dup-1/,
      );
      expect(conflict).toMatch(/same serviceName and instanceId/);
      // It keeps serving.
      const listening = await second.waitForLine(line => line.startsWith('LISTENING '));
      const secondPort = Number(listening.split(' ')[1]);
      const res = await within(
        fetch(`http://127.0.0.1:${secondPort}/ping`),
        10_000,
        'the second instance answered /ping',
      );
      expect(await res.text()).toBe('pong');
      // Two heartbeat periods of the second (ttl 3 → every second) later, the first still holds
      // the key: the second never put it.
      const ttlWindow = Date.now() + 2_500;
      await waitFor(() => Date.now() > ttlWindow, { timeout: 5_000, interval: 100 });
      expect(JSON.parse((await suite.etcd.get('/services/dup-svc/dup-1'))!)).toMatchObject({
        port: first.port,
      });
      expect(seen.flat().every(i => i.port === first.port)).toBe(true);
      expect(second.lines.filter(line => line.includes('held by another writer'))).toHaveLength(1);
      expect(first.log).not.toMatch(/held by another writer/);

      // When the first stops, the second takes the key over by itself.
      first.signal('SIGTERM');
      await nextValue(
        registryOf(observer).instances$('dup-svc'),
        list => list[0]?.port === secondPort,
        10_000,
      );
      await second.waitForLine(line => line === 'STATUS registered');
    } finally {
      sub.unsubscribe();
    }
  });

  it('event loop blocked longer than the TTL: the heal log says the lease expired, not "deleted from outside"', async () => {
    const ttl = 2;
    const child = await ChildApp.start({
      hosts: suite.etcd.endpoint,
      serviceName: 'blocked-svc',
      instanceId: 'blk-1',
      ttl,
    });
    // Busy-wait 2.5 × TTL: etcd expires the lease meanwhile, with room to spare on a busy machine
    // (etcd checks lease expiry every 500 ms).
    const res = await within(
      fetch(`http://127.0.0.1:${child.port}/block?ms=${ttl * 2500}`),
      ttl * 2500 + 10_000,
      'the child answered /block after blocking its loop',
    );
    expect(await res.text()).toBe('blocked');
    const lost = await child.waitForLine(line => /registration .* lost:/.test(line), {
      timeout: 10_000,
    });
    expect(lost).toMatch(
      /lost: no renewal of lease \d+ confirmed for \d+\.\ds, the 2s TTL \(was the event loop blocked/,
    );
    // etcd expired it meanwhile: asked first, then replaced (a lease etcd kept would be kept).
    await child.waitForLine(
      line => /lease \d+ of .* is gone in etcd; granting a new one/.test(line),
      {
        timeout: 10_000,
      },
    );
    await child.waitForLine(line => line === 'STATUS lost');
    const statusLines = () => child.lines.filter(line => line.startsWith('STATUS '));
    await waitFor(() => statusLines().at(-1) === 'STATUS registered', {
      timeout: 10_000,
      message: 'the child did not register again after the blocked loop',
    });
    expect(child.log).not.toMatch(/deleted from outside/);
    expect(await suite.etcd.get('/services/blocked-svc/blk-1')).toBeDefined();
  });

  it('without app.enableShutdownHooks(): one boot warning names the cost and the fix; with it: none', async () => {
    const [without, withHooks] = await Promise.all([
      ChildApp.start({
        hosts: suite.etcd.endpoint,
        serviceName: 'hooks-svc',
        instanceId: 'no-hooks',
        env: { CHILD_NO_SHUTDOWN_HOOKS: '1' },
      }),
      ChildApp.start({ hosts: suite.etcd.endpoint, serviceName: 'hooks-svc', instanceId: 'hooks' }),
    ]);
    const warning = await without.waitForLine(line => line.includes('enableShutdownHooks'));
    expect(warning).toMatch(
      /WARN \[EtcdRegistry\] app\.enableShutdownHooks\(\) was not called: after SIGTERM or Ctrl-C the key \/services\/hooks-svc\/no-hooks stays in etcd until its lease expires \(up to 10s\).*Fix: call app\.enableShutdownHooks\(\) before app\.listen\(\)/,
    );
    expect(without.lines.filter(line => line.includes('enableShutdownHooks'))).toHaveLength(1);
    expect(withHooks.log).not.toMatch(/enableShutdownHooks/);
  });
});
