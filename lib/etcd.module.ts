import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { EtcdConnectionError } from './client/etcd-connection.error.js';
import { EtcdConnection } from './client/etcd-connection.js';
import type { ConfigValueOptions } from './config/config-value.interface.js';
import { ConfigSnapshotStore } from './config/config-snapshot.js';
import { EtcdConfigService } from './config/etcd-config.service.js';
import { getConfigToken, recordedConfigKeys } from './config/inject-config.decorator.js';
import { ETCD_CLIENT, ETCD_RESOLVED_OPTIONS } from './etcd.constants.js';
import type { EtcdModuleOptions } from './etcd-module-options.interface.js';
import {
  ETCD_ASYNC_OPTIONS_TYPE,
  ETCD_MODULE_OPTIONS,
  ETCD_OPTIONS_TYPE,
  EtcdConfigurableModuleClass,
  resolveEtcdOptions,
  type ResolvedEtcdOptions,
} from './etcd.module-definition.js';
import { EtcdRegistryService } from './registry/etcd-registry.service.js';

/** A key for `EtcdModule.forFeature()`: its name, or its name with `@InjectConfig` options. */
export type EtcdFeatureKey<T = unknown> = string | ({ key: string } & ConfigValueOptions<T>);

/**
 * etcd as a configuration center and a service registry for NestJS.
 *
 * Provides {@link EtcdConfigService}, {@link EtcdRegistryService}, the `Etcd3` client
 * (`@InjectEtcdClient()`) and a {@link ConfigValue} for every key named by `@InjectConfig`.
 * Global by default.
 */
@Module({})
export class EtcdModule extends EtcdConfigurableModuleClass {
  /**
   * Configures the module with static options (any omitted option falls back to the environment
   * `ETCD_HOSTS`, `ETCD_USERNAME`, `ETCD_PASSWORD`, then to the defaults).
   *
   * @example
   * ```ts
   * @Module({
   *   imports: [
   *     EtcdModule.forRoot({
   *       hosts: 'http://127.0.0.1:2379',
   *       config: { prefix: '/config/orders/' },
   *       registry: { serviceName: 'orders', ttl: 10 },
   *     }),
   *   ],
   * })
   * export class AppModule {}
   * ```
   */
  static override forRoot(options: typeof ETCD_OPTIONS_TYPE = {}): DynamicModule {
    return withCoreProviders(super.forRoot(options));
  }

  /**
   * Configures the module from other providers (`useFactory` + `inject`, `useClass` or `useExisting`).
   *
   * @example
   * ```ts
   * EtcdModule.forRootAsync({
   *   imports: [ConfigModule],
   *   inject: [ConfigService],
   *   useFactory: (env: ConfigService) => ({
   *     hosts: env.getOrThrow('ETCD_HOSTS').split(','),
   *     registry: { serviceName: 'orders' },
   *   }),
   * })
   * ```
   */
  static override forRootAsync(options: typeof ETCD_ASYNC_OPTIONS_TYPE): DynamicModule {
    return withCoreProviders(super.forRootAsync(options));
  }

  /**
   * Declares config keys used by `@InjectConfig` in lazily loaded modules (keys named after
   * `forRoot()` was evaluated). Import it in the module that injects them.
   *
   * @example
   * ```ts
   * @Module({ imports: [EtcdModule.forFeature(['reports.pageSize'])], providers: [ReportsService] })
   * export class ReportsModule {}
   * ```
   */
  static forFeature(keys: EtcdFeatureKey[]): DynamicModule {
    const entries = keys.map(item => {
      if (typeof item === 'string') return [item, recordedConfigKeys().get(item) ?? {}] as const;
      const { key, ...options } = item;
      return [key, options] as const;
    });
    const providers = entries.map(([key, options]) => configValueProvider(key, options));
    return { module: EtcdModule, providers, exports: providers };
  }
}

function withCoreProviders(base: DynamicModule): DynamicModule {
  const configProviders = [...recordedConfigKeys()].map(([key, options]) =>
    configValueProvider(key, options),
  );
  const providers: Provider[] = [
    ...(base.providers ?? []),
    {
      provide: ETCD_RESOLVED_OPTIONS,
      useFactory: (raw: EtcdModuleOptions) => resolveEtcdOptions(raw),
      inject: [ETCD_MODULE_OPTIONS],
    },
    {
      provide: EtcdConnection,
      useFactory: openConnection,
      inject: [ETCD_RESOLVED_OPTIONS],
    },
    {
      provide: ETCD_CLIENT,
      useFactory: (connection: EtcdConnection) => connection.client,
      inject: [EtcdConnection],
    },
    {
      provide: EtcdConfigService,
      useFactory: async (connection: EtcdConnection, options: ResolvedEtcdOptions) => {
        const service = new EtcdConfigService(connection, options);
        try {
          await service.init();
        } catch (err) {
          await service.onModuleDestroy();
          await connection.onApplicationShutdown();
          throw err;
        }
        return service;
      },
      inject: [EtcdConnection, ETCD_RESOLVED_OPTIONS],
    },
    {
      provide: EtcdRegistryService,
      useFactory: (
        connection: EtcdConnection,
        options: ResolvedEtcdOptions,
        http?: HttpAdapterHost,
      ) => new EtcdRegistryService(connection, options, http),
      inject: [EtcdConnection, ETCD_RESOLVED_OPTIONS, { token: HttpAdapterHost, optional: true }],
    },
    ...configProviders,
  ];
  return {
    ...base,
    providers,
    exports: [
      ...(base.exports ?? []),
      ETCD_CLIENT,
      EtcdConfigService,
      EtcdRegistryService,
      ...configProviders,
    ],
  };
}

function configValueProvider(key: string, options: ConfigValueOptions<unknown>): Provider {
  return {
    provide: getConfigToken(key),
    useFactory: (config: EtcdConfigService) => config.injectedValue(key, options),
    inject: [EtcdConfigService],
  };
}

/** Builds the client and checks the connection; with etcd down, a valid config snapshot lets boot go on. */
async function openConnection(options: ResolvedEtcdOptions): Promise<EtcdConnection> {
  const connection = new EtcdConnection(options);
  try {
    await connection.connect();
  } catch (err) {
    const snapshotFile = options.config === false ? undefined : options.config.snapshotFile;
    const source = options.config === false ? '' : `${options.namespace}${options.config.prefix}`;
    if (
      err instanceof EtcdConnectionError &&
      snapshotFile &&
      ConfigSnapshotStore.read(snapshotFile, source)
    ) {
      // EtcdConfigService logs the one warning line (with the snapshot's revision and age).
      connection.bootedOffline = true;
      return connection;
    }
    await connection.onApplicationShutdown();
    throw err;
  }
  return connection;
}
