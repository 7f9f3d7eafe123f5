import type { ModuleRef } from '@nestjs/core';
import type { Subscription } from 'rxjs';
import { OptionalDependencyMissingError } from '../errors/optional-dependency-missing.error.js';
import type { EtcdConfigService } from './etcd-config.service.js';

interface NestConfigServiceLike {
  set(path: string, value: unknown): void;
}

/**
 * Copies every effective value into `@nestjs/config`'s `ConfigService` and keeps it following etcd
 * (`config.nestConfig: true`). `@nestjs/config` is an optional peer, loaded only here.
 * @internal
 */
export async function mirrorIntoNestConfig(
  config: EtcdConfigService,
  moduleRef: ModuleRef,
): Promise<Subscription> {
  let token: unknown;
  try {
    ({ ConfigService: token } = (await import('@nestjs/config')) as { ConfigService: unknown });
  } catch {
    throw new OptionalDependencyMissingError('@nestjs/config', 'config.nestConfig');
  }
  let service: NestConfigServiceLike;
  try {
    service = moduleRef.get(token as new () => NestConfigServiceLike, { strict: false });
  } catch {
    throw new OptionalDependencyMissingError(
      '@nestjs/config',
      'config.nestConfig',
      'its ConfigService was not found: import ConfigModule.forRoot() in your app module',
    );
  }
  const mirror = (key: string, value: unknown): void => {
    service.set(key, value);
    // ConfigService.set() also copies the value into process.env as a string, which get() reads
    // after its own store: a deleted key must not come back as the string "undefined".
    if (value === undefined) delete process.env[key];
  };
  for (const [key, value] of Object.entries(config.getAll())) mirror(key, value);
  return config.changes$.subscribe(change => mirror(change.key, change.value));
}
