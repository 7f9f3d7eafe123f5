import 'reflect-metadata';
import { type INestApplication } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { EtcdModule, EtcdRegistryService, type RegistryStatus } from '../../lib/index.js';
import { EtcdHealthIndicator } from '../../lib/terminus.js';
import { TcpProxy, nextValue } from '../support/index.js';
import { TEST_RETRY } from '../support/nest-apps.js';
import { bootApp, pause, profile, useChaosSuite } from '../support/chaos-helpers.js';

/**
 * A slow link: 300 ms each way between the app and etcd at ttl 5. The keep-alives renew
 * the lease but answer late; the registration must stay `registered` (and `requireRegistered`
 * health up) for as long as etcd keeps the key, and etcd must never delete it. And a second of
 * event-loop lag never costs a registration at ttl 10.
 */

const KEY = '/services/slow/slow-1';
const TTL = 5;
const OBSERVE_MS = profile(20_000, 120_000);

describe('chaos: slow link (300 ms each way, ttl 5) and a lagging event loop', () => {
  const suite = useChaosSuite();
  let proxy: TcpProxy;
  let app: INestApplication;

  beforeAll(async () => {
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: suite.etcd.clientPort });
    suite.closables.push(proxy);
    const moduleRef = await Test.createTestingModule({
      imports: [
        EtcdModule.forRoot({
          hosts: proxy.endpoint,
          config: false,
          registry: { serviceName: 'slow', instanceId: 'slow-1', port: 3000, ttl: TTL },
          retry: TEST_RETRY,
          connectTimeout: 5000,
        }),
        TerminusModule.forRoot({ logger: false }),
      ],
      providers: [EtcdHealthIndicator],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    suite.apps.push(app);
    await app.init();
    await nextValue(app.get(EtcdRegistryService).status$, s => s === 'registered', 15_000);
  });

  it('status stays registered, requireRegistered health stays up, and etcd never deletes the key', async () => {
    const registry = app.get(EtcdRegistryService);
    const health = app.get(EtcdHealthIndicator);
    const statuses: RegistryStatus[] = [];
    const statusSub = registry.status$.subscribe(status => statuses.push(status));
    // An outside watch, straight to etcd: any delete of the key (lease expired) is seen.
    const deletes: string[] = [];
    const watcher = await suite.raw.watch().key(KEY).create();
    watcher.on('delete', () => deletes.push(new Date().toISOString()));
    const leaseOf = async () => (await suite.raw.get(KEY).exec()).kvs[0]?.lease;
    const lease = await leaseOf();

    proxy.setLatency(300);
    const samples: Array<{ status: RegistryStatus; health: string; ttlLeft: number }> = [];
    const started = Date.now();
    try {
      while (Date.now() - started < OBSERVE_MS) {
        await pause(1_000);
        const result = await health.isHealthy('etcd', { requireRegistered: true, timeout: 3_000 });
        const answer = await suite.raw.leaseClient.leaseTimeToLive({ ID: lease! });
        samples.push({
          status: registry.status,
          health: String(result.etcd.status),
          ttlLeft: Number(answer.TTL),
        });
      }
    } finally {
      proxy.heal();
      statusSub.unsubscribe();
      await watcher.cancel();
    }
    const registered = samples.filter(s => s.status === 'registered').length;
    const up = samples.filter(s => s.health === 'up').length;
    const minTtlLeft = Math.min(...samples.map(s => s.ttlLeft));
    // The figure docs/reliability.md quotes.
    process.stdout.write(
      `slow link: ${registered}/${samples.length} samples registered, ${up}/${samples.length} health up, ` +
        `lowest lease TTL left ${minTtlLeft}s of ${TTL}s, ${deletes.length} deletes, statuses ${statuses.join(' > ')}\n`,
    );
    expect(deletes).toEqual([]);
    expect(await leaseOf()).toBe(lease); // the same lease all along: never lost, never re-put
    expect(statuses).toEqual(['registered']);
    expect(registered).toBe(samples.length);
    expect(up).toBe(samples.length);
    expect(minTtlLeft).toBeGreaterThan(0);
  });

  it('event-loop lag: the loop blocked for 1 s every 3 s at ttl 10 never costs the registration', async () => {
    const lagged = await bootApp({
      hosts: suite.etcd.endpoint,
      config: false,
      registry: { serviceName: 'laggy', instanceId: 'laggy-1', port: 3001, ttl: 10 },
      retry: TEST_RETRY,
      connectTimeout: 5000,
    });
    suite.apps.push(lagged);
    const registry = lagged.get(EtcdRegistryService);
    await nextValue(registry.status$, s => s === 'registered', 15_000);
    const statuses: RegistryStatus[] = [];
    const statusSub = registry.status$.subscribe(status => statuses.push(status));
    const key = '/services/laggy/laggy-1';
    const lease = (await suite.raw.get(key).exec()).kvs[0]?.lease;
    try {
      for (let i = 0; i < profile(10, 60); i++) {
        const until = Date.now() + 1_000;
        while (Date.now() < until) {
          // a synchronous task holding the event loop for a second
        }
        await pause(2_000);
      }
    } finally {
      statusSub.unsubscribe();
    }
    expect(statuses).toEqual(['registered']);
    expect((await suite.raw.get(key).exec()).kvs[0]?.lease).toBe(lease);
  });
});
