import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { EtcdConfigService } from '../config/etcd-config.service.js';
import { EtcdRegistryService } from '../registry/etcd-registry.service.js';
import { EtcdConnectivity } from './etcd-connectivity.js';

/** Options of {@link EtcdHealthIndicator.isHealthy}. */
export interface EtcdHealthCheckOptions {
  /**
   * Down once etcd has been unreachable for longer than this (ms). Below it the check stays up,
   * with the outage in its details: the module serves its last good config and registry meanwhile.
   * @default 30000
   */
  maxStalenessMs?: number;
  /**
   * Down while this app's registration is not `registered` (lost, still registering, deregistered).
   * @default false
   */
  requireRegistered?: boolean;
  /**
   * Longest wait (ms) for etcd's answer to the probe this check makes.
   * @default 1000
   */
  timeout?: number;
}

/**
 * A `@nestjs/terminus` health indicator for etcd (import it from `nest-etcd/terminus`). List it in
 * the `providers` of the module that imports `TerminusModule`.
 *
 * Each check probes etcd (bounded by `timeout`) and reports `down` when etcd has been unreachable
 * for longer than `maxStalenessMs`, or when `requireRegistered` is set and this app's registration
 * is not `registered`. Details always say why: `connected`, `disconnectedSince`, `lastContactAt`,
 * `registration`, `configRevision` (the revision of the config served), `configKeys` (each
 * key's served revision) and, when a key refused its newest revision, `configRejected`.
 *
 * @example
 * ```ts
 * import { Controller, Get, Module } from '@nestjs/common';
 * import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
 * import { EtcdModule } from 'nest-etcd';
 * import { EtcdHealthIndicator } from 'nest-etcd/terminus';
 *
 * @Controller('health')
 * class HealthController {
 *   constructor(
 *     private readonly health: HealthCheckService,
 *     private readonly etcd: EtcdHealthIndicator,
 *   ) {}
 *
 *   @Get()
 *   @HealthCheck()
 *   check() {
 *     return this.health.check([
 *       () => this.etcd.isHealthy('etcd', { maxStalenessMs: 30_000, requireRegistered: true }),
 *     ]);
 *   }
 * }
 *
 * @Module({
 *   imports: [EtcdModule.forRoot({ registry: { serviceName: 'orders' } }), TerminusModule],
 *   controllers: [HealthController],
 *   providers: [EtcdHealthIndicator],
 * })
 * export class AppModule {}
 * ```
 */
@Injectable()
export class EtcdHealthIndicator {
  constructor(
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(EtcdConnectivity) private readonly connectivity: EtcdConnectivity,
    @Inject(EtcdRegistryService) private readonly registry: EtcdRegistryService,
    @Inject(EtcdConfigService) private readonly config: EtcdConfigService,
  ) {}

  /** Checks etcd; see the class documentation. */
  async isHealthy<const Key extends string = 'etcd'>(
    key: Key = 'etcd' as Key,
    options: EtcdHealthCheckOptions = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const maxStalenessMs = options.maxStalenessMs ?? 30_000;
    const session = this.indicators.check(key);
    const state = await this.connectivity.probe(options.timeout ?? 1000);
    const registration = this.registry.status;
    const details: Record<string, unknown> = {
      connected: state.connected,
      lastContactAt: state.lastContactAt ? new Date(state.lastContactAt).toISOString() : null,
      registration,
      instanceId: this.registry.self?.instanceId ?? null,
      // The revision served, never one a key refused (those are in configRejected).
      configRevision: this.config.prefix ? this.config.servedRevision : null,
    };
    if (this.config.prefix) {
      const keys = this.config.keyStatuses();
      details.configKeys = Object.fromEntries(
        Object.entries(keys).map(([name, status]) => [name, status.revision]),
      );
      const rejected = Object.entries(keys).filter(([, status]) => status.state === 'rejected');
      if (rejected.length > 0) {
        details.configRejected = Object.fromEntries(
          rejected.map(([name, status]) => [
            name,
            { rejectedRevision: status.rejectedRevision, reason: status.reason },
          ]),
        );
      }
    }
    const problems: string[] = [];
    if (!state.connected) {
      // The epoch time is for people; the outage is measured on the monotonic clock, so a step of
      // the wall clock neither fails a short outage nor hides a long one.
      const since = new Date(state.disconnectedSince ?? Date.now()).toISOString();
      const outage = Math.round(this.connectivity.outageMs());
      details.disconnectedSince = since;
      details.reason = state.reason;
      if (outage > maxStalenessMs) {
        problems.push(
          `etcd unreachable since ${since} (${outage} ms > ${maxStalenessMs} ms): ${state.reason ?? 'no answer'}`,
        );
      }
    }
    if (options.requireRegistered && registration !== 'registered') {
      problems.push(`registration is ${registration}`);
    }
    if (problems.length > 0) return session.down({ ...details, message: problems.join('; ') });
    return session.up(details);
  }
}
