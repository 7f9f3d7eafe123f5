import { type INestApplicationContext, Module, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { EtcdElectionService, EtcdModule, type EtcdModuleOptions } from '../../lib/index.js';

import { TEST_RETRY } from './nest-apps.js';

/** Closes every app given (see nest-apps.ts). */
export { closeAll } from './nest-apps.js';

/** Options of {@link startOpsApp}. */
export interface OpsAppOptions {
  hosts: string | string[];
  /** Instance id (also the election identity); the app does not register itself. */
  instanceId: string;
  /** Lease TTL in seconds (registry.ttl: elections and locks use it). @default 3 */
  ttl?: number;
  serviceName?: string;
  /** Extra modules (e.g. ScheduleModule.forRoot()). */
  imports?: Array<Type | import('@nestjs/common').DynamicModule>;
  /** Extra providers (e.g. a class with @LeaderOnly methods). */
  providers?: Type[];
  extra?: Partial<EtcdModuleOptions>;
}

/** An in-process Nest application context with EtcdModule; the caller closes it. */
export async function startOpsApp(options: OpsAppOptions): Promise<INestApplicationContext> {
  @Module({
    imports: [
      EtcdModule.forRoot({
        hosts: options.hosts,
        config: false,
        registry: {
          serviceName: options.serviceName ?? 'ops-svc',
          instanceId: options.instanceId,
          ttl: options.ttl ?? 3,
          port: 1,
          autoRegister: false,
        },
        retry: TEST_RETRY,
        ...options.extra,
      }),
      ...(options.imports ?? []),
    ],
    providers: options.providers ?? [],
  })
  class OpsTestModule {}
  const moduleRef = await Test.createTestingModule({ imports: [OpsTestModule] })
    .setLogger(quietLogger)
    .compile();
  const app = moduleRef;
  try {
    await app.init();
  } catch (err) {
    await app.close();
    throw err;
  }
  return app;
}

const quietLogger = {
  log: () => undefined,
  warn: () => undefined,
  error: (message: unknown) => console.error(message),
  debug: () => undefined,
  verbose: () => undefined,
};

/** The election service of an app. */
export function electionOf(app: INestApplicationContext): EtcdElectionService {
  return app.get(EtcdElectionService);
}

/** One sample of every instance's isLeader(). */
export interface LeaderSample {
  at: number;
  leaders: string[];
}

/**
 * Samples `isLeader(name)` of every app every `intervalMs` (50 ms) and keeps the samples; `stop()`
 * ends it. The proof of "never two leaders" reads these samples.
 */
export class LeaderSampler {
  readonly samples: LeaderSample[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly apps: Map<string, EtcdElectionService>,
    private readonly name: string,
    intervalMs = 50,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.sample();
  }

  /** Ids leading in the most recent sample. */
  get current(): string[] {
    return this.samples.at(-1)?.leaders ?? [];
  }

  /** Samples in which more than one instance led. */
  overlaps(): LeaderSample[] {
    return this.samples.filter(s => s.leaders.length > 1);
  }

  /** Time of the first sample (after `from`) where `id` leads / does not lead. */
  firstAfter(from: number, predicate: (s: LeaderSample) => boolean): LeaderSample | undefined {
    return this.samples.find(s => s.at >= from && predicate(s));
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    const leaders: string[] = [];
    for (const [id, election] of this.apps) if (election.isLeader(this.name)) leaders.push(id);
    this.samples.push({ at: Date.now(), leaders });
  }
}
