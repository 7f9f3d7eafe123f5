import { type INestApplication, type LoggerService, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  EtcdModule,
  EtcdRegistryService,
  type EtcdModuleOptions,
  type EtcdRegistryOptions,
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

/** A Nest logger that records every line (and prints nothing), to assert on warnings. */
export class CapturingLogger implements LoggerService {
  readonly lines: Array<{ level: string; context: string; message: string }> = [];

  log(message: unknown, context?: string): void {
    this.record('log', message, context);
  }
  warn(message: unknown, context?: string): void {
    this.record('warn', message, context);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.record('error', message, typeof rest.at(-1) === 'string' ? (rest.at(-1) as string) : '');
  }
  debug(): void {}
  verbose(): void {}

  /** Lines of one level (and context, when given) whose message matches `pattern`. */
  find(level: string, pattern: RegExp, context?: string): string[] {
    return this.lines
      .filter(
        l => l.level === level && (!context || l.context === context) && pattern.test(l.message),
      )
      .map(l => l.message);
  }

  private record(level: string, message: unknown, context?: string): void {
    this.lines.push({ level, context: context ?? '', message: String(message) });
  }
}
