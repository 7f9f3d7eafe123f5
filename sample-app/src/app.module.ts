import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { TerminusModule } from '@nestjs/terminus';
import { EtcdModule } from '../../lib/index.js';
import { EtcdHealthIndicator } from '../../lib/terminus.js';
import { EtcdConsoleModule } from '../../lib/console/index.js';
import { AppController } from './app.controller.js';
import { ConfigController } from './config.controller.js';
import { DiscoveryController } from './discovery.controller.js';
import { CONSOLE_PATH, LoopbackOnlyGuard } from './loopback-only.guard.js';
import { OpsController } from './ops.controller.js';
import { ReportJob } from './report.job.js';
// The providers are imported before EtcdModule.forRoot() runs, so the keys their @InjectConfig
// decorators name ('greeting', 'rateLimit') are known when forRoot builds its providers.
import { GreetingService } from './greeting.service.js';
import { RateLimitService } from './rate-limit.service.js';
import { CONFIG_PREFIX, SERVICE_NAME, SampleSettings } from './sample-settings.js';

const settings = new SampleSettings();

/**
 * The sample app: etcd as its config center (keys under `/config/sample/`) and its service registry
 * (registered as `/services/sample/<instanceId>`). etcd endpoints come from `ETCD_HOSTS`.
 */
@Module({
  imports: [
    EtcdModule.forRoot({
      config: { prefix: CONFIG_PREFIX, snapshotFile: settings.snapshotFile },
      registry: {
        serviceName: SERVICE_NAME,
        instanceId: settings.instanceId,
        host: settings.host,
        // The port is settings.port (env PORT): main.ts listens on it, and the module registers
        // once the server is listening, so other instances never see an address that is not up yet.
        metadata: { version: '1.0.0' },
        ttl: 10,
        // On SIGTERM: deregister, keep answering this long (callers stop choosing it), then close.
        drainDelay: settings.drainDelay,
      },
      // nest_etcd_* metrics in prom-client's default registry, served at GET /metrics
      metrics: true,
    }),
    // The etcd console at http://localhost:3000/etcd: read-write, so LoopbackOnlyGuard (below)
    // refuses every other address. Its own EtcdAdmin reads ETCD_HOSTS like the module.
    EtcdConsoleModule.forRoot({
      path: CONSOLE_PATH,
      readOnly: false,
      banner:
        'Sample app: this console is read-write and answers loopback addresses only ' +
        '(LoopbackOnlyGuard refuses any other remote address).',
    }),
    TerminusModule.forRoot({ logger: false }),
    ScheduleModule.forRoot(),
  ],
  controllers: [AppController, ConfigController, DiscoveryController, OpsController],
  providers: [
    { provide: SampleSettings, useValue: settings },
    // The console is read-write: only this machine may reach /etcd (see loopback-only.guard.ts).
    { provide: APP_GUARD, useClass: LoopbackOnlyGuard },
    GreetingService,
    RateLimitService,
    // the etcd check of GET /health (nest-etcd/terminus)
    EtcdHealthIndicator,
    // a cron job that runs on the leader only (@LeaderOnly)
    ReportJob,
  ],
})
export class AppModule {}
