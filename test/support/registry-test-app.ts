import { type INestApplication, type LoggerService, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  EtcdModule,
  EtcdRegistryService,
  type EtcdModuleOptions,
  type EtcdRegistryOptions,
  type ServiceInstance,
} from '../../lib/index.js';
import { TEST_RETRY } from './nest-apps.js';

/** Closes every app given (see nest-apps.ts). */
export { closeAll } from './nest-apps.js';

/** Options of {@link startApp}. */
export interface TestAppOptions {
  hosts: string;
  /** Registry options; omitted: a discovery-only app. */
  registry?: EtcdRegistryOptions;
  /** `listen(0)` on loopback (default) or only `init()` (no port known). */
  listen?: boolean;
  /** Anything else for `forRoot`. */
  extra?: Partial<EtcdModuleOptions>;
  /** A logger for the app (default: errors and warnings to the console). */
  logger?: LoggerService;
}

/** An in-process Nest app with EtcdModule; the caller closes it. */
export async function startApp(options: TestAppOptions): Promise<INestApplication> {
  @Module({
    imports: [
      EtcdModule.forRoot({
        hosts: options.hosts,
        config: false,
        registry: options.registry,
        retry: TEST_RETRY,
        ...options.extra,
      }),
    ],
  })
  class RegistryTestModule {}
  const moduleRef = await Test.createTestingModule({ imports: [RegistryTestModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: options.logger ?? ['error', 'warn'] });
  try {
    if (options.listen === false) await app.init();
    else await app.listen(0, '127.0.0.1');
  } catch (err) {
    await app.close();
    throw err;
  }
  return app;
}

/** The registry service of an app. */
export function registryOf(app: INestApplication): EtcdRegistryService {
  return app.get(EtcdRegistryService);
}

/** The instance ids of a list, sorted and comma-joined (`'a-1,a-2'`), for readable equality waits. */
export function joinedIds(list: ServiceInstance[]): string {
  return list
    .map(i => i.instanceId)
    .sort()
    .join();
}

/**
 * Makes `times` calls one after another (`call` resolves with the id of the instance that answered)
 * and counts the answers per instance id: how a client spread its calls.
 */
export async function tally(
  call: () => Promise<string>,
  times: number,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < times; i++) {
    const id = await call();
    counts[id] = (counts[id] ?? 0) + 1;
  }
  return counts;
}
