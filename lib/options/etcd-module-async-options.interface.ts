import type { ConfigurableModuleAsyncOptions } from '@nestjs/common';
import type { EtcdModuleOptions } from './etcd-module-options.interface.js';

/**
 * A class that builds the module's options, for `EtcdModule.forRootAsync({ useClass })` or
 * `({ useExisting })` (as `TypeOrmOptionsFactory` is for TypeORM).
 *
 * @example
 * ```ts
 * @Injectable()
 * class EtcdSettings implements EtcdOptionsFactory {
 *   createEtcdOptions(): EtcdModuleOptions {
 *     return { hosts: 'http://127.0.0.1:2379', registry: { serviceName: 'orders' } };
 *   }
 * }
 * EtcdModule.forRootAsync({ useClass: EtcdSettings });
 * ```
 */
export interface EtcdOptionsFactory {
  createEtcdOptions(): EtcdModuleOptions | Promise<EtcdModuleOptions>;
}

/**
 * The options of `EtcdModule.forRootAsync()`: `useFactory` (+ `inject`), `useClass` or `useExisting`
 * (an {@link EtcdOptionsFactory}), `imports`, and `isGlobal` (default `true`).
 */
export type EtcdModuleAsyncOptions = ConfigurableModuleAsyncOptions<
  EtcdModuleOptions,
  'createEtcdOptions'
> & {
  /**
   * Register the module globally.
   * @default true
   */
  isGlobal?: boolean;
};
