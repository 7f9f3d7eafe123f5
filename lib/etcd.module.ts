import { EtcdConnection } from './client/etcd-connection.js';
import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type { ConfigValueOptions } from './config/config-value.interface.js';
import { isConfigDefinition, type ConfigDefinition } from './config/define-config.js';
import { EtcdConfigService } from './config/etcd-config.service.js';
import { recordedConfigKeys } from './config/inject-config.decorator.js';
import { ETCD_CLIENT } from './common/etcd.constants.js';
import { ETCD_OPTIONS_TYPE, EtcdConfigurableModuleClass } from './etcd.module-definition.js';
import type { EtcdModuleAsyncOptions } from './options/etcd-module-async-options.interface.js';
import { configValueProvider, createEtcdProviders } from './etcd.providers.js';
import { EtcdRegistryService } from './registry/etcd-registry.service.js';
import { EtcdWatchService } from './watch/etcd-watch.service.js';
import { EtcdElectionService } from './election/etcd-election.service.js';
import { EtcdLockService } from './lock/etcd-lock.service.js';
import { EtcdConnectivity } from './health/etcd-connectivity.js';

/**
 * A key for `EtcdModule.forFeature()`: its name, its name with `@InjectConfig` options, or a
 * definition from `defineConfig()`.
 */
export type EtcdFeatureKey<T = unknown> =
  string | ConfigDefinition<T> | ({ key: string } & ConfigValueOptions<T>);

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
   * Configures the module from other providers (`useFactory` + `inject`, or `useClass` /
   * `useExisting` with an {@link EtcdOptionsFactory}).
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
  static override forRootAsync(options: EtcdModuleAsyncOptions): DynamicModule {
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
      if (isConfigDefinition(item)) return [item.key, item.options] as const;
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
  return {
    ...base,
    // DiscoveryModule: EtcdElectionService finds the @LeaderOnly methods of the app's providers.
    imports: [...(base.imports ?? []), DiscoveryModule],
    providers: [...(base.providers ?? []), ...createEtcdProviders(), ...configProviders],
    exports: [
      ...(base.exports ?? []),
      ETCD_CLIENT,
      EtcdConfigService,
      EtcdRegistryService,
      EtcdWatchService,
      EtcdElectionService,
      EtcdLockService,
      // for EtcdHealthIndicator (nest-etcd/terminus), which apps list in their own providers
      EtcdConnectivity,
      // for EtcdConsoleModule: its admin core on the module's client (one client per app)
      EtcdConnection,
      ...configProviders,
    ],
  };
}
