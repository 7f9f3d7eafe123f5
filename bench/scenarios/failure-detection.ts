import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EtcdModule, EtcdRegistryService } from '../../lib/index.js';
import {
  type BenchContext,
  median,
  now,
  startChild,
  until,
  OBSERVER_CONFIG,
} from '../bench-utils.js';

/** Result of the failure detection scenario. */
export interface FailureDetectionResult {
  ttlSec: number;
  /** Median over the trials. */
  detectMs: number;
  trialsMs: number[];
}

/**
 * Scenario 4: a child process (bench/child-app.ts) registers with `ttl: 2` and is killed with
 * SIGKILL (no deregistration); time from the kill until an observer app's `instances$` drops it.
 * Bounded by the lease TTL plus etcd's lease expiry check.
 */
export async function failureDetection(ctx: BenchContext): Promise<FailureDetectionResult> {
  const ttlSec = 2;
  const trials = ctx.quick ? 1 : 3;
  const service = 'bench-failure';

  @Module({ imports: [EtcdModule.forRoot({ hosts: ctx.endpoint, config: OBSERVER_CONFIG })] })
  class ObserverModule {}
  const app = await NestFactory.createApplicationContext(ObserverModule, {
    logger: false,
    abortOnError: false,
  });
  try {
    const registry = app.get(EtcdRegistryService);
    const instances$ = registry.instances$(service);
    const keepWatching = instances$.subscribe();
    const trialsMs: number[] = [];
    for (let trial = 0; trial < trials; trial++) {
      const child = startChild({
        BENCH_ETCD: ctx.endpoint,
        BENCH_MODE: 'register',
        BENCH_SERVICE: service,
        BENCH_TTL: String(ttlSec),
      });
      try {
        const id = await child.line('ready', 60_000);
        await until(instances$, list => list.some(i => i.instanceId === id), 10_000);
        // Let the lease run through a keep-alive or two, as a real app's would.
        await new Promise(resolve => setTimeout(resolve, 1500));
        const gone = until(instances$, list => !list.some(i => i.instanceId === id), 30_000);
        const start = now();
        await child.kill();
        await gone;
        trialsMs.push(now() - start);
        ctx.log(`  trial ${trial + 1}: ${Math.round(trialsMs[trialsMs.length - 1]!)} ms`);
      } finally {
        await child.kill();
      }
    }
    keepWatching.unsubscribe();
    return { ttlSec, detectMs: median(trialsMs), trialsMs };
  } finally {
    await app.close();
  }
}
