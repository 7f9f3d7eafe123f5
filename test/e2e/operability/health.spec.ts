import 'reflect-metadata';
import { Controller, Get, type INestApplication, Module } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { EtcdModule, type EtcdRegistryOptions } from '../../../lib/index.js';
import { EtcdHealthIndicator } from '../../../lib/terminus.js';
import { waitFor } from '../../support/index.js';
import { TEST_RETRY } from '../../support/nest-apps.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';

interface HealthBody {
  status: string;
  info?: Record<string, Record<string, unknown>>;
  error?: Record<string, Record<string, unknown>>;
  details: Record<string, Record<string, unknown>>;
}

async function startHealthApp(
  hosts: string,
  registry: EtcdRegistryOptions,
  check: { maxStalenessMs?: number; requireRegistered?: boolean },
): Promise<{ app: INestApplication; url: string }> {
  @Controller('health')
  class HealthController {
    constructor(
      private readonly health: HealthCheckService,
      private readonly etcd: EtcdHealthIndicator,
    ) {}

    @Get()
    @HealthCheck()
    check() {
      return this.health.check([() => this.etcd.isHealthy('etcd', check)]);
    }
  }

  @Module({
    imports: [
      EtcdModule.forRoot({
        hosts,
        config: { prefix: '/health-config/' },
        registry,
        retry: TEST_RETRY,
        connectTimeout: 2000,
      }),
      TerminusModule.forRoot({ logger: false }),
    ],
    controllers: [HealthController],
    providers: [EtcdHealthIndicator],
  })
  class HealthAppModule {}

  const moduleRef = await Test.createTestingModule({ imports: [HealthAppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${address.port}/health` };
}

async function get(url: string): Promise<{ code: number; body: HealthBody }> {
  const res = await fetch(url);
  return { code: res.status, body: (await res.json()) as HealthBody };
}

describe('EtcdHealthIndicator (nest-etcd/terminus) with real etcd', () => {
  const suite = useEtcdSuite({ restartIfStopped: true });
  const { apps } = suite;

  it('up while etcd answers; stays up (with the outage in details) within maxStalenessMs; down after; up again', async () => {
    await suite.etcd.put('/health-config/greeting', 'hi');
    const { app, url } = await startHealthApp(
      suite.etcd.endpoint,
      { serviceName: 'health-svc', instanceId: 'h-1', port: 1234, ttl: 10 },
      { maxStalenessMs: 1500 },
    );
    apps.push(app);
    await waitFor(async () => (await get(url)).body.details.etcd?.registration === 'registered', {
      message: 'the app never reported its registration as registered',
    });
    const up = await get(url);
    expect(up.code).toBe(200);
    expect(up.body.status).toBe('ok');
    expect(up.body.details.etcd).toMatchObject({
      status: 'up',
      connected: true,
      registration: 'registered',
      instanceId: 'h-1',
    });
    expect(up.body.details.etcd!.configRevision).toEqual(expect.any(Number));
    expect(up.body.details.etcd!.configRevision).toBeGreaterThan(0);

    await suite.etcd.stop();
    const stoppedAt = Date.now();
    const tolerated = await get(url);
    expect(tolerated.code).toBe(200);
    expect(tolerated.body.details.etcd).toMatchObject({ status: 'up', connected: false });
    expect(tolerated.body.details.etcd!.disconnectedSince).toEqual(expect.any(String));

    const down = (await waitFor(
      async () => {
        const res = await get(url);
        return res.code === 503 ? res : undefined;
      },
      { timeout: 10_000, interval: 200, message: 'health never went down with etcd stopped' },
    ))!;
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(1500);
    expect(down.body.status).toBe('error');
    expect(down.body.error!.etcd).toMatchObject({ status: 'down', connected: false });
    expect(String(down.body.error!.etcd!.message)).toMatch(/etcd unreachable since .*> 1500 ms/);

    await suite.etcd.restart();
    await waitFor(async () => (await get(url)).code === 200, {
      timeout: 15_000,
      interval: 200,
      message: 'health did not come back up after etcd restarted',
    });
  });

  it('requireRegistered: down while the app is not registered, naming the registration status', async () => {
    const { app, url } = await startHealthApp(
      suite.etcd.endpoint,
      { serviceName: 'health-svc', instanceId: 'h-2', port: 1235, autoRegister: false },
      { requireRegistered: true },
    );
    apps.push(app);
    const res = await get(url);
    expect(res.code).toBe(503);
    expect(res.body.error!.etcd).toMatchObject({
      status: 'down',
      connected: true,
      registration: 'deregistered',
      message: 'registration is deregistered',
    });
  });
});
