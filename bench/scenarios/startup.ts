import 'reflect-metadata';
import { Controller, Get, Injectable, Module, type DynamicModule, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EtcdModule } from '../../lib/index.js';
import { type BenchContext, median, memoryAfterGc, now } from '../bench-utils.js';

/** Result of the startup scenario. */
export interface StartupResult {
  withModuleMs: number;
  withoutModuleMs: number;
  overheadMs: number;
  /** Config + discovery only (no self-registration). */
  withModuleNoRegistryMs: number;
  withModuleHeapMb: number;
  withoutModuleHeapMb: number;
  runs: number;
}

@Injectable()
class HelloService {
  hello(): string {
    return 'hello';
  }
}

@Controller()
class HelloController {
  constructor(private readonly service: HelloService) {}
  @Get()
  get(): string {
    return this.service.hello();
  }
}

function appModule(imports: DynamicModule[]): Type {
  @Module({ imports, controllers: [HelloController], providers: [HelloService] })
  class StartupModule {}
  return StartupModule;
}

/** Boots `NestFactory.create(module)` + `init()`, returns ms and heap growth, closes the app. */
async function bootOnce(module: Type): Promise<{ ms: number; heapMb: number }> {
  const before = await memoryAfterGc();
  const t = now();
  const app = await NestFactory.create(module, { logger: false, abortOnError: false });
  await app.init();
  const ms = now() - t;
  const after = await memoryAfterGc();
  await app.close();
  return { ms, heapMb: after.heapMb - before.heapMb };
}

/**
 * Scenario 6: `NestFactory.create` + `init()` of a small HTTP app with EtcdModule (config center +
 * self-registration with a given port) and without it. Runs alternate; the first of each is a
 * warm-up; figures are medians.
 */
export async function startup(ctx: BenchContext): Promise<StartupResult> {
  const runs = ctx.quick ? 3 : 10;
  let seq = 0;
  const withModule = () =>
    appModule([
      EtcdModule.forRoot({
        hosts: ctx.endpoint,
        config: { prefix: '/bench/startup/config/' },
        registry: {
          serviceName: 'bench-startup',
          instanceId: `startup-${seq++}`,
          host: '127.0.0.1',
          port: 7000,
          ttl: 10,
        },
      }),
    ]);
  const withoutRegistry = () =>
    appModule([
      EtcdModule.forRoot({ hosts: ctx.endpoint, config: { prefix: '/bench/startup/config/' } }),
    ]);
  const plain = appModule([]);

  await bootOnce(withModule());
  await bootOnce(withoutRegistry());
  await bootOnce(plain);
  const withMs: number[] = [];
  const withHeap: number[] = [];
  const noRegMs: number[] = [];
  const plainMs: number[] = [];
  const plainHeap: number[] = [];
  for (let i = 0; i < runs; i++) {
    const a = await bootOnce(withModule());
    withMs.push(a.ms);
    withHeap.push(a.heapMb);
    noRegMs.push((await bootOnce(withoutRegistry())).ms);
    const c = await bootOnce(plain);
    plainMs.push(c.ms);
    plainHeap.push(c.heapMb);
  }
  const withModuleMs = median(withMs);
  const withoutModuleMs = median(plainMs);
  return {
    withModuleMs,
    withoutModuleMs,
    overheadMs: withModuleMs - withoutModuleMs,
    withModuleNoRegistryMs: median(noRegMs),
    withModuleHeapMb: median(withHeap),
    withoutModuleHeapMb: median(plainHeap),
    runs,
  };
}
