import { Inject, Injectable, Logger } from '@nestjs/common';
import { Cron } from '@nestjs/schedule';
import { LeaderOnly } from '../../lib/index.js';
import { SampleSettings } from './sample-settings.js';

/** The election the report job runs under: one instance of the sample service leads it. */
export const REPORT_ELECTION = 'sample-report';

/**
 * A scheduled job that must run on one instance only: `@LeaderOnly` skips it on every instance but
 * the leader of `sample-report`. Kill the leader and another instance takes over (within the
 * registry TTL); stop it gracefully and the next one leads at once. Schedule: every 10 s, or
 * `SAMPLE_REPORT_CRON`.
 */
@Injectable()
export class ReportJob {
  private readonly logger = new Logger('ReportJob');
  /** How many times the job ran on this instance. */
  runs = 0;

  constructor(@Inject(SampleSettings) private readonly settings: SampleSettings) {}

  @Cron(process.env.SAMPLE_REPORT_CRON || '*/10 * * * * *')
  @LeaderOnly(REPORT_ELECTION)
  report(): void {
    this.runs++;
    this.logger.log(
      `report #${this.runs} by ${this.settings.instanceId} (leader of ${REPORT_ELECTION})`,
    );
  }
}
