import { Controller, Get, Header, Inject } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { firstValueFrom } from 'rxjs';
import { register } from 'prom-client';
import { EtcdElectionService } from '../../lib/index.js';
import { EtcdHealthIndicator } from '../../lib/terminus.js';
import { REPORT_ELECTION, ReportJob } from './report.job.js';

/** `GET /health` (terminus), `GET /metrics` (Prometheus) and `GET /leader` (the report job's election). */
@Controller()
export class OpsController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(EtcdHealthIndicator) private readonly etcd: EtcdHealthIndicator,
    @Inject(EtcdElectionService) private readonly election: EtcdElectionService,
    @Inject(ReportJob) private readonly job: ReportJob,
  ) {}

  /**
   * 200 while etcd answers (or has been unreachable for less than 10 s: the app serves its last
   * good config meanwhile) and this instance is registered; else 503. The details say why.
   */
  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([
      () => this.etcd.isHealthy('etcd', { maxStalenessMs: 10_000, requireRegistered: true }),
    ]);
  }

  /** prom-client's default registry: the module's `nest_etcd_*` metrics (option `metrics: true`). */
  @Get('metrics')
  @Header('content-type', register.contentType)
  metrics(): Promise<string> {
    return register.metrics();
  }

  /** Who leads the report job, and how often it ran here. */
  @Get('leader')
  async leader(): Promise<{
    election: string;
    leading: boolean;
    leader: string | null;
    runs: number;
  }> {
    const leader = await firstValueFrom(this.election.leader$(REPORT_ELECTION));
    return {
      election: REPORT_ELECTION,
      leading: this.election.isLeader(REPORT_ELECTION),
      leader: leader ?? null,
      runs: this.job.runs,
    };
  }
}
