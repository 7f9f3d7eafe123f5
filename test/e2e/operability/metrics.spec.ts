import 'reflect-metadata';
import { Controller, Get, Header, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Registry, register as defaultRegister } from 'prom-client';
import {
  EtcdConfigService,
  EtcdElectionService,
  EtcdModule,
  EtcdRegistryService,
} from '../../../lib/index.js';
import { TcpProxy, nextValue, waitFor } from '../../support/index.js';
import { TEST_RETRY } from '../../support/nest-apps.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';

/** The value of one sample line `name{labels} value` in a Prometheus text exposition. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const prefix = labels ? `${name}{${labels}} ` : `${name} `;
  const line = text.split('\n').find(l => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

describe('Prometheus metrics (metrics option, prom-client) with real etcd', () => {
  const suite = useEtcdSuite({ restartIfStopped: true });
  const { apps } = suite;

  it('metrics: true puts every nest_etcd_* metric, with help texts, on a plain prom-client /metrics', async () => {
    @Controller()
    class MetricsController {
      @Get('metrics')
      @Header('content-type', 'text/plain')
      metrics(): Promise<string> {
        return defaultRegister.metrics();
      }
    }
    @Module({
      imports: [
        EtcdModule.forRoot({
          hosts: suite.etcd.endpoint,
          config: { prefix: '/metrics-config/' },
          registry: { serviceName: 'metrics-svc', instanceId: 'm-1', port: 4321, ttl: 3 },
          retry: TEST_RETRY,
          metrics: true,
        }),
      ],
      controllers: [MetricsController],
    })
    class MetricsAppModule {}
    const moduleRef = await Test.createTestingModule({ imports: [MetricsAppModule] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    apps.push(app);
    await app.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}/metrics`;

    const election = app.get(EtcdElectionService);
    await nextValue(election.isLeader$('metrics-job'), leading => leading, 10_000);
    await nextValue(app.get(EtcdRegistryService).status$, s => s === 'registered', 10_000);
    const config = app.get(EtcdConfigService);
    config.getConfigValue<number>('limit', {
      default: 1,
      parse: raw => {
        if (!/^\d+$/.test(raw)) throw new Error('not a number');
        return Number(raw);
      },
    });
    const rejected = nextValue(config.rejections$, r => r.key === 'limit');
    await suite.etcd.put('/metrics-config/limit', 'many');
    const rejection = await rejected;

    const text = await waitFor(
      async () => {
        const body = await (await fetch(url)).text();
        return sample(body, 'nest_etcd_instances', 'service="metrics-svc"') === 1 ? body : '';
      },
      { message: 'nest_etcd_instances{service="metrics-svc"} never reached 1' },
    );
    for (const name of [
      'nest_etcd_connected',
      'nest_etcd_watch_resyncs_total',
      'nest_etcd_config_rejections_total',
      'nest_etcd_config_revision',
      'nest_etcd_registration_status',
      'nest_etcd_instances',
      'nest_etcd_leader',
    ]) {
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
    }
    expect(sample(text, 'nest_etcd_connected')).toBe(1);
    expect(sample(text, 'nest_etcd_registration_status', 'status="registered"')).toBe(1);
    expect(sample(text, 'nest_etcd_registration_status', 'status="lost"')).toBe(0);
    expect(sample(text, 'nest_etcd_leader', 'election="metrics-job"')).toBe(1);
    expect(sample(text, 'nest_etcd_config_rejections_total', 'key="limit"')).toBe(1);
    // The revision served, never the refused one.
    expect(sample(text, 'nest_etcd_config_revision')).toBeLessThan(rejection.revision);
  });

  it('counts watch resyncs by prefix and reports etcd as disconnected, in a registry of its own', async () => {
    // Through a proxy, so the app can be cut off while etcd itself stays up to be written to and
    // compacted: a broken watch RESUMES from its revision + 1 (no re-list, so no
    // resync) and re-lists only when etcd answers that revision "compacted". A plain etcd restart
    // (what this test used to do) therefore no longer counts a resync; a compaction past the
    // watch's revision while it is cut off does, and that is what the counter is for.
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: suite.etcd.clientPort });
    suite.closables.push(proxy); // closed in the suite's afterEach, even when this test fails
    const registry = new Registry();
    const moduleRef = await Test.createTestingModule({
      imports: [
        EtcdModule.forRoot({
          hosts: proxy.endpoint,
          config: { prefix: '/metrics-resync/' },
          retry: TEST_RETRY,
          connectTimeout: 2000,
          metrics: { registry },
        }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    apps.push(app);
    await app.init();
    expect(defaultRegister.getSingleMetric('nest_etcd_connected')).toBeUndefined();
    const scrape = () => registry.metrics();
    const resyncs = async () =>
      sample(await scrape(), 'nest_etcd_watch_resyncs_total', 'prefix="/metrics-resync/"') ?? 0;
    expect(sample(await scrape(), 'nest_etcd_connected')).toBe(1);
    expect(await resyncs()).toBe(0);

    proxy.blackhole();
    // The background probe (every 5 s, 2 s connect timeout) notices the outage.
    await waitFor(async () => sample(await scrape(), 'nest_etcd_connected') === 0, {
      timeout: 20_000,
      interval: 200,
      message: 'nest_etcd_connected never dropped to 0 with etcd unreachable (bound: 20 s)',
    });
    // While the app is cut off: writes under its prefix, then a compaction past its watch revision.
    for (let i = 0; i < 3; i++) await suite.etcd.put(`/metrics-resync/k${i}`, String(i));
    await suite.etcd.compact();
    proxy.reset();
    proxy.heal();
    await waitFor(async () => (await resyncs()) >= 1, {
      timeout: 30_000,
      interval: 200,
      message: 'the re-list after the watch revision was compacted was not counted (bound: 30 s)',
    });
    await waitFor(async () => sample(await scrape(), 'nest_etcd_connected') === 1, {
      timeout: 20_000,
      interval: 200,
      message: 'nest_etcd_connected never came back to 1 after the partition healed (bound: 20 s)',
    });
    await app.close();
    apps.splice(0);
    // closing the module removes its metrics from the registry
    expect(registry.getSingleMetric('nest_etcd_connected')).toBeUndefined();
  }, 120_000);
});
