import type { ModuleRef } from '@nestjs/core';
import type { Subscription } from 'rxjs';
import { setOwn } from '../common/own-property.js';
import { OptionalDependencyMissingError } from '../errors/optional-dependency-missing.error.js';
import type { EtcdConfigService } from './etcd-config.service.js';

/**
 * The store `ConfigService.get()` reads first (`internalConfig`, @nestjs/config 3 to 12). Not its
 * public API: `set()` also writes `process.env` (and rewrites variables of the env files that
 * interpolate the key), which would hand whoever writes config the process environment
 * (`NODE_OPTIONS`, `PATH`, ...). Pinned by test/unit/nest-config-bridge.spec.ts against the
 * installed version.
 * @internal
 */
export function nestConfigStore(service: unknown): Record<string, unknown> {
  const store = (service as { internalConfig?: unknown } | undefined)?.internalConfig;
  if (!store || typeof store !== 'object') {
    throw new OptionalDependencyMissingError(
      '@nestjs/config',
      'config.nestConfig',
      'this version of its ConfigService keeps no internalConfig store to mirror into',
    );
  }
  return store as Record<string, unknown>;
}

/**
 * Mirrors one effective value into a `ConfigService`'s store (`undefined`: the key was deleted, so
 * `get()` falls back to what it read before: validated env, then `process.env`). Never touches
 * `process.env`. @internal
 */
export function mirrorValue(store: Record<string, unknown>, key: string, value: unknown): void {
  if (value === undefined) delete store[key];
  else setOwn(store, key, value);
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
  let service: unknown;
  try {
    service = moduleRef.get(token as new () => unknown, { strict: false });
  } catch {
    throw new OptionalDependencyMissingError(
      '@nestjs/config',
      'config.nestConfig',
      'its ConfigService was not found: import ConfigModule.forRoot() in your app module',
    );
  }
  const store = nestConfigStore(service);
  for (const [key, value] of Object.entries(config.getAll())) mirrorValue(store, key, value);
  return config.changes$.subscribe(change => mirrorValue(store, change.key, change.value));
}
