import type { Provider } from '@nestjs/common';
import { map } from 'rxjs';
import { DiscoveryService, HttpAdapterHost, MetadataScanner, ModuleRef } from '@nestjs/core';
import { EtcdBootState } from './client/etcd-boot-state.js';
import { EtcdConnection } from './client/etcd-connection.js';
import type { ConfigValueOptions } from './config/config-value.interface.js';
import { EtcdConfigHooks } from './config/config-hooks.js';
import { EtcdConfigService } from './config/etcd-config.service.js';
import {
  ConfigStatusWriter,
  STATUS_TIMING,
  type StatusRegistration,
} from './config/config-status.writer.js';
import { getConfigToken } from './config/inject-config.decorator.js';
import { EtcdConnectionError } from './errors/etcd-connection.error.js';
import { ETCD_CLIENT, ETCD_RESOLVED_OPTIONS } from './common/etcd.constants.js';
import type { EtcdModuleOptions } from './options/etcd-module-options.interface.js';
import { ETCD_MODULE_OPTIONS } from './etcd.module-definition.js';
import { resolveEtcdOptions } from './options/etcd-options.resolver.js';
import type { ResolvedEtcdOptions } from './options/resolved-etcd-options.interface.js';
import { EtcdRegistryService } from './registry/etcd-registry.service.js';
import { EtcdInformerPort } from './watch/etcd-informer-port.js';
import { EtcdWatchService } from './watch/etcd-watch.service.js';
import { EtcdElectionService } from './election/etcd-election.service.js';
import { EtcdLockService } from './lock/etcd-lock.service.js';
import { EtcdConnectivity, connectivityPort } from './health/etcd-connectivity.js';
import { EtcdMetrics } from './metrics/etcd-metrics.js';
import { InformerPool } from './watch/informer-pool.js';

/*
 * The provider factories of EtcdModule. Lifecycle (see docs/architecture.md):
 * - EtcdConnection: built and checked first; closes the client in onApplicationShutdown.
 * - InformerPool: built on the connection; stops every informer in beforeApplicationShutdown, that
 *   is after the services released them (onModuleDestroy) and before the client closes.
 * - EtcdConfigService / EtcdRegistryService: built on both.
 * - EtcdWatchService: built on the pool (public watchPrefix()).
 */

/** The providers every `forRoot` / `forRootAsync` module gets. @internal */
export function createEtcdProviders(): Provider[] {
  return [
    {
      provide: ETCD_RESOLVED_OPTIONS,
      useFactory: (raw: EtcdModuleOptions) => resolveEtcdOptions(raw),
      inject: [ETCD_MODULE_OPTIONS],
    },
    {
      provide: EtcdBootState,
      useFactory: openConnection,
      inject: [ETCD_RESOLVED_OPTIONS],
    },
    {
      provide: EtcdConnection,
      useFactory: (boot: EtcdBootState) => boot.connection,
      inject: [EtcdBootState],
    },
    {
      provide: ETCD_CLIENT,
      useFactory: (connection: EtcdConnection) => connection.client,
      inject: [EtcdConnection],
    },
    {
      provide: InformerPool,
      useFactory: createInformerPool,
      inject: [EtcdConnection],
    },
    {
      provide: EtcdWatchService,
      useFactory: (informers: InformerPool) => new EtcdWatchService(informers),
      inject: [InformerPool],
    },
    {
      provide: EtcdConfigService,
      useFactory: createConfigService,
      inject: [EtcdConnection, InformerPool, ETCD_RESOLVED_OPTIONS, EtcdBootState],
    },
    {
      provide: EtcdConfigHooks,
      useFactory: (
        config: EtcdConfigService,
        options: ResolvedEtcdOptions,
        discovery: DiscoveryService,
        scanner: MetadataScanner,
        moduleRef: ModuleRef,
      ) => new EtcdConfigHooks(config, options, discovery, scanner, moduleRef),
      inject: [
        EtcdConfigService,
        ETCD_RESOLVED_OPTIONS,
        DiscoveryService,
        MetadataScanner,
        ModuleRef,
      ],
    },
    {
      provide: EtcdRegistryService,
      useFactory: (
        connection: EtcdConnection,
        informers: InformerPool,
        options: ResolvedEtcdOptions,
        http?: HttpAdapterHost,
      ) => new EtcdRegistryService(connection, informers, options, http),
      inject: [
        EtcdConnection,
        InformerPool,
        ETCD_RESOLVED_OPTIONS,
        { token: HttpAdapterHost, optional: true },
      ],
    },
    {
      provide: ConfigStatusWriter,
      useFactory: createStatusWriter,
      inject: [
        EtcdConnection,
        InformerPool,
        EtcdConfigService,
        EtcdRegistryService,
        ETCD_RESOLVED_OPTIONS,
      ],
    },
    {
      provide: EtcdElectionService,
      useFactory: (
        connection: EtcdConnection,
        informers: InformerPool,
        options: ResolvedEtcdOptions,
        discovery: DiscoveryService,
        scanner: MetadataScanner,
      ) => new EtcdElectionService(connection, informers, options, discovery, scanner),
      inject: [
        EtcdConnection,
        InformerPool,
        ETCD_RESOLVED_OPTIONS,
        DiscoveryService,
        MetadataScanner,
      ],
    },
    {
      provide: EtcdConnectivity,
      useFactory: (connection: EtcdConnection, boot: EtcdBootState) =>
        new EtcdConnectivity(connectivityPort(connection), boot.unreachable !== undefined),
      inject: [EtcdConnection, EtcdBootState],
    },
    {
      provide: EtcdMetrics,
      useFactory: EtcdMetrics.create,
      inject: [
        ETCD_RESOLVED_OPTIONS,
        EtcdConnectivity,
        InformerPool,
        EtcdConfigService,
        EtcdRegistryService,
        EtcdElectionService,
      ],
    },
    {
      provide: EtcdLockService,
      useFactory: (
        connection: EtcdConnection,
        informers: InformerPool,
        options: ResolvedEtcdOptions,
      ) => new EtcdLockService(connection, informers, options),
      inject: [EtcdConnection, InformerPool, ETCD_RESOLVED_OPTIONS],
    },
  ];
}

/** The `ConfigValue` provider of one `@InjectConfig` key. @internal */
export function configValueProvider(key: string, options: ConfigValueOptions<unknown>): Provider {
  return {
    provide: getConfigToken(key),
    useFactory: (config: EtcdConfigService) => config.injectedValue(key, options),
    inject: [EtcdConfigService],
  };
}

/** The module's shared informers (one per prefix), on the connection's namespaced client. @internal */
export function createInformerPool(connection: EtcdConnection): InformerPool {
  const { options } = connection;
  const port = new EtcdInformerPort(connection.kv, {
    namespace: options.namespace,
    username: options.auth?.username,
  });
  return new InformerPool(port, {
    stallTimeout: options.watchStallTimeout,
    retry: options.watchRetry,
  });
}

/**
 * Builds the client and checks the connection. With a config snapshot file configured, an unreachable
 * etcd is handed to the config center (the boot state's `unreachable`), which decides in one place
 * whether to boot from the file.
 */
async function openConnection(options: ResolvedEtcdOptions): Promise<EtcdBootState> {
  const connection = new EtcdConnection(options);
  try {
    await connection.connect();
  } catch (err) {
    if (
      err instanceof EtcdConnectionError &&
      options.config !== false &&
      options.config.snapshotFile
    ) {
      return new EtcdBootState(connection, err);
    }
    await connection.onApplicationShutdown();
    throw err;
  }
  return new EtcdBootState(connection);
}

/** Loads the config before any provider that injects it is built; a failed boot releases everything. */
async function createConfigService(
  connection: EtcdConnection,
  informers: InformerPool,
  options: ResolvedEtcdOptions,
  boot: EtcdBootState,
): Promise<EtcdConfigService> {
  const service = new EtcdConfigService(connection, informers, options, boot.unreachable);
  try {
    await service.init();
  } catch (err) {
    await service.onModuleDestroy();
    await informers.close();
    await connection.onApplicationShutdown();
    throw err;
  }
  return service;
}

/**
 * The config status writer (docs/cli.md), when the config center reports and this app registers
 * itself: config and registry never import each other, so the roof hands the writer this app's
 * registration (service name, instance id, key) from the registry's status.
 */
function createStatusWriter(
  connection: EtcdConnection,
  informers: InformerPool,
  config: EtcdConfigService,
  registry: EtcdRegistryService,
  options: ResolvedEtcdOptions,
): ConfigStatusWriter | null {
  if (options.config === false || !options.config.report || options.registry === false) return null;
  const writer = new ConfigStatusWriter(connection, informers, config, {
    reportPrefix: options.config.reportPrefix,
    ...STATUS_TIMING,
  });
  writer.follow(
    registry.status$.pipe(
      map((status): StatusRegistration | undefined => {
        const self = registry.self;
        if (status !== 'registered' || !self) return undefined;
        return {
          serviceName: self.serviceName,
          instanceId: self.instanceId,
          key: `${options.registryPrefix}${self.serviceName}/${self.instanceId}`,
        };
      }),
    ),
  );
  return writer;
}
