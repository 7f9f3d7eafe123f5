import 'reflect-metadata';
import { type INestApplication, type Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { EtcdModule, type EtcdModuleOptions } from '../../lib/index.js';
import { TEST_RETRY } from './nest-apps.js';
import { delay } from './process-utils.js';

/** Closes every app given (see nest-apps.ts). */
export { closeAll } from './nest-apps.js';

/** True when `CHAOS_PROFILE=long`: more iterations and longer phases (see docs/reliability.md). */
export const LONG_PROFILE = process.env.CHAOS_PROFILE === 'long';

/** Picks the CI value or the long-profile value. */
export function profile<T>(ci: T, long: T): T {
  return LONG_PROFILE ? long : ci;
}

/** Fast timings for chaos apps: quick reconnects, quick stall and keep-alive detection. */
export const FAST_TIMINGS: Pick<
  EtcdModuleOptions,
  'retry' | 'keepaliveInterval' | 'keepaliveTimeout' | 'watchStallTimeout' | 'connectTimeout'
> = {
  retry: TEST_RETRY,
  keepaliveInterval: 1000,
  keepaliveTimeout: 1000,
  watchStallTimeout: 5000,
  connectTimeout: 5000,
};

/**
 * etcd flags for servers that chaos apps talk to: FAST_TIMINGS pings every second, and etcd's default
 * `--grpc-keepalive-min-time` (5 s) answers that with GOAWAY "too many pings" (a dropped connection
 * that is not the fault under test).
 */
export const ETCD_ARGS = ['--grpc-keepalive-min-time=500ms'];

/** Boots a Nest app with `EtcdModule.forRoot(options)` (plus `providers`) and runs `init()`. */
export async function bootApp(
  options: EtcdModuleOptions,
  providers: Provider[] = [],
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [EtcdModule.forRoot(options)],
    providers,
  }).compile();
  const app = moduleRef.createNestApplication();
  try {
    await app.init();
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
  return app;
}

/** Resolves after `ms`: only to pace writers and to let time pass under a fault, never to synchronize. */
export const pause: (ms: number) => Promise<void> = delay;
