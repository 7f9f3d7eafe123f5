import { Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Counter, Gauge, Registry } from 'prom-client';
import type { Subscription } from 'rxjs';
import type { EtcdConfigService } from '../config/etcd-config.service.js';
import type { EtcdElectionService } from '../election/etcd-election.service.js';
import { OptionalDependencyMissingError } from '../errors/optional-dependency-missing.error.js';
import type { ResolvedEtcdOptions } from '../options/resolved-etcd-options.interface.js';
import type { EtcdConnectivity } from '../health/etcd-connectivity.js';
import type { EtcdRegistryService } from '../registry/etcd-registry.service.js';
import type { InformerPool } from '../watch/informer-pool.js';

/** The metric names (and help texts) this module publishes. */
export const METRIC_HELP = {
  nest_etcd_connected: '1 when etcd answered the last probe of this app, 0 when it did not',
  nest_etcd_watch_resyncs_total:
    'Re-lists of a watched prefix after its watch broke (reconnect, compaction, stall), by prefix',
  nest_etcd_config_rejections_total:
    'Config values refused (invalid UTF-8, parse or schema failure) while the last good value was kept, by key',
  nest_etcd_config_revision:
    'The etcd revision of the config this app serves (never a revision it refused)',
  nest_etcd_registration_status:
    "This app's registration state: 1 for the current status, 0 for the others",
  nest_etcd_instances: 'Live instances of each service this app has discovered, by service',
  nest_etcd_leader: '1 while this instance leads the election, 0 otherwise, by election',
} as const;

const REGISTRATION_STATUSES = ['registering', 'registered', 'lost', 'deregistered'] as const;

/** The prom-client module, loaded only when metrics are on. */
type PromClient = typeof import('prom-client');

/** Thrown when `metrics` is on and `prom-client` is not installed. */
function missingPromClient(cause: unknown): Error {
  const error = new OptionalDependencyMissingError('prom-client', "the 'metrics' option");
  return Object.assign(error, { cause });
}

/**
 * Publishes the module's Prometheus metrics in a prom-client registry (the default one for
 * `metrics: true`). Gauges are read when the registry is scraped; counters follow the events of
 * the informers and the config center. prom-client is imported only when metrics are on.
 * @internal
 */
export class EtcdMetrics implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('EtcdMetrics');
  private readonly subscriptions: Subscription[] = [];
  private readonly instanceCounts = new Map<string, number>();
  private readonly metricNames: string[] = [];
  private registry: Registry | undefined;

  private constructor(
    private readonly options: ResolvedEtcdOptions,
    private readonly connectivity: EtcdConnectivity,
    private readonly informers: InformerPool,
    private readonly config: EtcdConfigService,
    private readonly registryService: EtcdRegistryService,
    private readonly election: EtcdElectionService,
  ) {}

  /** Builds the metrics (loading prom-client) when `metrics` is on; a no-op otherwise. */
  static async create(
    options: ResolvedEtcdOptions,
    connectivity: EtcdConnectivity,
    informers: InformerPool,
    config: EtcdConfigService,
    registryService: EtcdRegistryService,
    election: EtcdElectionService,
    load: () => Promise<PromClient> = () => import('prom-client'),
  ): Promise<EtcdMetrics> {
    const metrics = new EtcdMetrics(
      options,
      connectivity,
      informers,
      config,
      registryService,
      election,
    );
    if (options.metrics === false) return metrics;
    let prom: PromClient;
    try {
      prom = await load();
    } catch (err) {
      throw missingPromClient(err);
    }
    metrics.install(prom, (options.metrics.registry as Registry | undefined) ?? prom.register);
    return metrics;
  }

  /** @internal Starts following the own service's instances once the app is up. */
  onApplicationBootstrap(): void {
    if (!this.registry) return;
    const registry = this.options.registry;
    if (registry !== false) this.follow(registry.serviceName);
  }

  /** @internal Removes this module's metrics from the registry. */
  onApplicationShutdown(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    for (const name of this.metricNames.splice(0)) this.registry?.removeSingleMetric(name);
  }

  private install(prom: PromClient, registry: Registry): void {
    this.registry = registry;
    this.connectivity.startProbing();
    const register = <T extends Gauge | Counter>(metric: T, name: string): T => {
      this.metricNames.push(name);
      return metric;
    };
    const fresh = (name: keyof typeof METRIC_HELP) => {
      if (registry.getSingleMetric(name)) {
        // Another module (a second app in this process) published it: the newest one reports.
        this.logger.warn(`metric ${name} was already registered; replacing it`);
        registry.removeSingleMetric(name);
      }
      return { name, help: METRIC_HELP[name], registers: [registry] };
    };

    const connectivity = this.connectivity;
    register(
      new prom.Gauge({
        ...fresh('nest_etcd_connected'),
        collect() {
          this.set(connectivity.state.connected ? 1 : 0);
        },
      }),
      'nest_etcd_connected',
    );

    const resyncs = register(
      new prom.Counter({ ...fresh('nest_etcd_watch_resyncs_total'), labelNames: ['prefix'] }),
      'nest_etcd_watch_resyncs_total',
    );
    this.subscriptions.push(
      this.informers.resyncs$.subscribe(resync => resyncs.inc({ prefix: resync.prefix })),
    );

    const rejections = register(
      new prom.Counter({ ...fresh('nest_etcd_config_rejections_total'), labelNames: ['key'] }),
      'nest_etcd_config_rejections_total',
    );
    this.subscriptions.push(
      this.config.rejections$.subscribe(rejection => rejections.inc({ key: rejection.key })),
    );

    const config = this.config;
    if (config.prefix) {
      register(
        new prom.Gauge({
          ...fresh('nest_etcd_config_revision'),
          collect() {
            this.set(config.servedRevision);
          },
        }),
        'nest_etcd_config_revision',
      );
    }

    const registryService = this.registryService;
    register(
      new prom.Gauge({
        ...fresh('nest_etcd_registration_status'),
        labelNames: ['status'],
        collect() {
          for (const status of REGISTRATION_STATUSES) {
            this.set({ status }, registryService.status === status ? 1 : 0);
          }
        },
      }),
      'nest_etcd_registration_status',
    );

    const counts = this.instanceCounts;
    const follow = (service: string) => this.follow(service);
    register(
      new prom.Gauge({
        ...fresh('nest_etcd_instances'),
        labelNames: ['service'],
        collect() {
          for (const service of registryService.discoveredServices) follow(service);
          for (const [service, count] of counts) this.set({ service }, count);
        },
      }),
      'nest_etcd_instances',
    );

    const election = this.election;
    register(
      new prom.Gauge({
        ...fresh('nest_etcd_leader'),
        labelNames: ['election'],
        collect() {
          for (const name of election.elections) {
            this.set({ election: name }, election.isLeader(name) ? 1 : 0);
          }
        },
      }),
      'nest_etcd_leader',
    );
  }

  /** Keeps the instance count of a service up to date (one subscription per service). */
  private follow(service: string): void {
    if (this.instanceCounts.has(service) || !this.registry) return;
    this.instanceCounts.set(service, 0);
    this.subscriptions.push(
      this.registryService
        .instances$(service)
        .subscribe(list => this.instanceCounts.set(service, list.length)),
    );
  }
}
