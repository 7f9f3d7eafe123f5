import {
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { type DiscoveryService, type MetadataScanner, type ModuleRef } from '@nestjs/core';
import type { Subscription } from 'rxjs';
import { ON_CONFIG_CHANGE_METADATA } from '../common/etcd.constants.js';
import { scanDecoratedMethods } from '../common/provider-scanner.js';
import type { ResolvedEtcdOptions } from '../options/resolved-etcd-options.interface.js';
import type { ConfigChange } from './config-value.interface.js';
import type { EtcdConfigService } from './etcd-config.service.js';
import { mirrorIntoNestConfig } from './nest-config.bridge.js';
import type { OnConfigChangeMetadata } from './on-config-change.decorator.js';

/**
 * Wires what the config center does for the rest of the app: calls `@OnConfigChange` methods of
 * every provider (found through Nest's discovery service) and, with `config.nestConfig`, mirrors
 * effective values into `@nestjs/config`'s `ConfigService`.
 * @internal
 */
export class EtcdConfigHooks implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('EtcdConfig');
  private readonly subscriptions: Subscription[] = [];

  constructor(
    private readonly config: EtcdConfigService,
    private readonly options: ResolvedEtcdOptions,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly moduleRef: ModuleRef,
  ) {}

  /** Mirrors into `@nestjs/config` before other modules' `onModuleInit` read it. */
  async onModuleInit(): Promise<void> {
    if (this.options.config === false || !this.options.config.nestConfig) return;
    this.subscriptions.push(await mirrorIntoNestConfig(this.config, this.moduleRef));
  }

  /** Subscribes every `@OnConfigChange` method. */
  onApplicationBootstrap(): void {
    if (this.options.config === false) return;
    const { methods, notSingleton } = scanDecoratedMethods(this.discovery, this.scanner, method =>
      typeof method === 'function'
        ? (Reflect.getMetadata(ON_CONFIG_CHANGE_METADATA, method) as
            OnConfigChangeMetadata[] | undefined)
        : undefined,
    );
    for (const { instance, methodName, label, metadata: hooks } of methods) {
      const method = instance[methodName] as (v: unknown, c: ConfigChange) => unknown;
      for (const hook of hooks) {
        this.subscribe(hook, label, (value, change) => method.call(instance, value, change));
      }
    }
    for (const label of notSingleton) {
      this.logger.warn(
        `${label} is @OnConfigChange on a request-scoped or transient provider: it is never called (use a singleton provider)`,
      );
    }
  }

  /** @internal */
  onModuleDestroy(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
  }

  /** One handler: its calls run in order, each isolated (a throw is logged, never fatal). */
  private subscribe(
    hook: OnConfigChangeMetadata,
    name: string,
    call: (value: unknown, change: ConfigChange) => unknown,
  ): void {
    let queue: Promise<void> = Promise.resolve();
    const run = async (value: unknown, change: ConfigChange): Promise<void> => {
      try {
        await call(value, change);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        this.logger.warn(
          `@OnConfigChange handler ${name} failed for "${change.key}" at revision ${change.revision}: ${reason.replace(/\s+/g, ' ')}`,
        );
      }
    };
    this.subscriptions.push(
      this.config.acceptedChanges(hook.key, hook.options).subscribe(({ value, change }) => {
        queue = queue.then(() => run(value, change));
      }),
    );
  }
}
