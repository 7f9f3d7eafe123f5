import 'reflect-metadata';
import { Controller, Get, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EtcdModule, EtcdRegistryService, type ServiceInstance } from '../../lib/index.js';
import { type BenchContext, now, percentile, until } from '../bench-utils.js';

/** Result of the calls-through-the-registry scenario. */
export interface CallsResult {
  /** Requests timed for each of the two ways (interleaved, same run). */
  requests: number;
  directP50Ms: number;
  directP99Ms: number;
  registryP50Ms: number;
  registryP99Ms: number;
  /** registry.fetch over a direct fetch to a known address. */
  p50Ratio: number;
  p99Ratio: number;
  /** Rolling restart of 3 instances under load: requests sent and failed. */
  rollingRequests: number;
  rollingFailed: number;
  rollingRatePerSec: number;
}

const SERVICE = 'bench-calls';

/** A registered HTTP instance: GET / answers its id. Closing it deregisters, drains, closes. */
async function startInstance(endpoint: string, id: string): Promise<INestApplication> {
  @Controller()
  class EchoController {
    @Get()
    hello(): { id: string } {
      return { id };
    }
  }
  @Module({
    imports: [
      EtcdModule.forRoot({
        hosts: endpoint,
        config: false,
        registry: { serviceName: SERVICE, instanceId: id, host: '127.0.0.1', drainDelay: 300 },
      }),
    ],
    controllers: [EchoController],
  })
  class InstanceModule {}
  const app = await NestFactory.create(InstanceModule, { logger: false, abortOnError: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

/**
 * Scenario 7 (calls through the registry):
 * - latency: the same GET to 3 registered Nest HTTP instances, once with `fetch()` to a known
 *   address and once with `registry.fetch()`, interleaved request by request (same run, same
 *   keep-alive pool); p50/p99 of each and their ratios;
 * - rolling restart: each instance replaced in turn (new one registered, old one closed: it
 *   deregisters, drains 300 ms, closes) while the caller sends 100 requests/s through
 *   `registry.fetch()`; failed requests are counted.
 */
export async function calls(ctx: BenchContext): Promise<CallsResult> {
  const instances: INestApplication[] = [];
  @Module({ imports: [EtcdModule.forRoot({ hosts: ctx.endpoint, config: false })] })
  class CallerModule {}
  const caller = await NestFactory.createApplicationContext(CallerModule, {
    logger: false,
    abortOnError: false,
  });
  try {
    const registry = caller.get(EtcdRegistryService);
    for (const id of ['a', 'b', 'c']) instances.push(await startInstance(ctx.endpoint, id));
    const ids = (list: ServiceInstance[]) => list.map(i => i.instanceId).join();
    await until(registry.instances$(SERVICE), list => ids(list) === 'a,b,c', 10_000);
    const addresses = (await registry.getInstances(SERVICE)).map(i => `http://${i.host}:${i.port}`);

    const direct: number[] = [];
    const viaRegistry: number[] = [];
    const warmup = 200;
    const timed = ctx.quick ? 500 : 3000;
    for (let i = 0; i < warmup + timed; i++) {
      let t = now();
      const a = await fetch(`${addresses[i % addresses.length]}/`);
      await a.text();
      const directMs = now() - t;
      t = now();
      const b = await registry.fetch(SERVICE, '/');
      await b.text();
      const registryMs = now() - t;
      if (a.status !== 200 || b.status !== 200) throw new Error('an instance did not answer 200');
      if (i >= warmup) {
        direct.push(directMs);
        viaRegistry.push(registryMs);
      }
    }

    // rolling restart under load
    let sent = 0;
    let failed = 0;
    const inFlight = new Set<Promise<void>>();
    const rate = 100;
    const loadStart = now();
    const ticker = setInterval(() => {
      const due = Math.floor(((now() - loadStart) * rate) / 1000);
      while (sent < due) {
        sent++;
        const p = registry
          .fetch(SERVICE, '/', { timeout: 5000 })
          .then(async res => {
            await res.text();
            if (res.status !== 200) failed++;
          })
          .catch(() => {
            failed++;
          })
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
    }, 5);
    try {
      for (const [i, id] of ['a2', 'b2', 'c2'].entries()) {
        const next = await startInstance(ctx.endpoint, id);
        await until(registry.instances$(SERVICE), list => ids(list).includes(id), 10_000);
        const old = instances[i]!;
        instances[i] = next;
        await old.close();
      }
    } finally {
      clearInterval(ticker);
      await Promise.all(inFlight);
    }
    const seconds = (now() - loadStart) / 1000;
    const result: CallsResult = {
      requests: timed,
      directP50Ms: percentile(direct, 50),
      directP99Ms: percentile(direct, 99),
      registryP50Ms: percentile(viaRegistry, 50),
      registryP99Ms: percentile(viaRegistry, 99),
      p50Ratio: percentile(viaRegistry, 50) / percentile(direct, 50),
      p99Ratio: percentile(viaRegistry, 99) / percentile(direct, 99),
      rollingRequests: sent,
      rollingFailed: failed,
      rollingRatePerSec: sent / seconds,
    };
    return result;
  } finally {
    await Promise.allSettled(instances.map(app => app.close()));
    await caller.close();
  }
}
