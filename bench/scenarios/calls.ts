import 'reflect-metadata';
import { Controller, Get, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { setImmediate } from 'node:timers/promises';
import { EtcdModule, EtcdRegistryService, type ServiceInstance } from '../../lib/index.js';
import { type BenchContext, median, now, percentile, until } from '../bench-utils.js';

/** Result of the calls-through-the-registry scenario. */
export interface CallsResult {
  /** Requests timed for each way, over all rounds (interleaved, same run). */
  requests: number;
  /** Rounds the requests were split into (one p50/p99 ratio per round). */
  rounds: number;
  /** p50/p99 over every round's samples together. */
  directP50Ms: number;
  directP99Ms: number;
  registryP50Ms: number;
  registryP99Ms: number;
  /** registry.fetch over a direct fetch to a known address: median of the rounds' ratios. */
  p50Ratio: number;
  p99Ratio: number;
  /** Each round's p99 ratio (the spread is the machine's, see `controlP99Ratios`). */
  p99Ratios: number[];
  /**
   * A/A control: a second direct `fetch()`, interleaved with the two others, over the first:
   * median of the rounds' p99 ratios and each round's. What a ratio of two identical ways reads
   * on this machine (its noise floor), measured in the same run.
   */
  controlP99Ratio: number;
  controlP99Ratios: number[];
  /**
   * TCP connections the 3 instances accepted from warm-up to the last timed request: 3 when both
   * ways share the global dispatcher's keep-alive pool (one socket per instance, requests are
   * sequential), 6 if each way had a pool of its own.
   */
  connections: number;
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

/** One way of sending the GET (direct, through the registry). */
type Way = () => Promise<Response>;

/**
 * Sends one request the given way, reads the body, returns the milliseconds it took. Then lets
 * the event loop turn once (untimed): a request sent in the same turn as the previous answer
 * finds that instance's socket still busy in undici's pool and opens or takes a second one, so
 * back-to-back, each way kept a socket per instance of its own (seen from the instances' side,
 * `req.socket.remotePort`) and the second way always followed a request to the same instance.
 * After one turn every way takes the same idle socket: 3 connections in all.
 */
async function timedCall(way: Way): Promise<number> {
  const t = now();
  const res = await way();
  await res.text();
  const ms = now() - t;
  if (res.status !== 200) throw new Error(`an instance answered ${res.status}`);
  await setImmediate();
  return ms;
}

/**
 * Scenario 7 (calls through the registry):
 * - latency: the same GET to 3 registered Nest HTTP instances with `fetch()` to a known address,
 *   with `registry.fetch()`, and with `fetch()` again as an A/A control, interleaved request by
 *   request in an order that rotates each time (no way always follows another), over the same
 *   keep-alive connections (the global dispatcher's pool per instance; counted on the instances'
 *   side). The samples are split into rounds: the p99 ratio is the median of the rounds', and the
 *   control's ratio shows how far two identical ways read apart on the machine of the run;
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

    let nextDirect = 0;
    const direct: Way = () => fetch(`${addresses[nextDirect++ % addresses.length]}/`);
    const viaRegistry: Way = () => registry.fetch(SERVICE, '/');
    const ways = [direct, viaRegistry, direct] as const; // [0] direct, [1] registry, [2] control
    let connections = 0;
    const countConnection = () => connections++;
    for (const app of instances) app.getHttpServer().on('connection', countConnection);

    const warmup = 500;
    const rounds = ctx.quick ? 3 : 5;
    const perRound = ctx.quick ? 1500 : 2000;
    for (let i = 0; i < warmup; i++) for (const way of ways) await timedCall(way);
    const all: number[][] = [[], [], []];
    const p50Ratios: number[] = [];
    const p99Ratios: number[] = [];
    const controlP99Ratios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const samples: number[][] = [[], [], []];
      for (let i = 0; i < perRound; i++) {
        for (let j = 0; j < ways.length; j++) {
          const w = (i + j) % ways.length;
          samples[w]!.push(await timedCall(ways[w]!));
        }
      }
      const [d, r, c] = samples as [number[], number[], number[]];
      p50Ratios.push(percentile(r, 50) / percentile(d, 50));
      p99Ratios.push(percentile(r, 99) / percentile(d, 99));
      controlP99Ratios.push(percentile(c, 99) / percentile(d, 99));
      samples.forEach((s, w) => all[w]!.push(...s));
    }
    for (const app of instances) app.getHttpServer().off('connection', countConnection);
    const [allDirect, allRegistry] = all as [number[], number[]];

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
      requests: allDirect.length,
      rounds,
      directP50Ms: percentile(allDirect, 50),
      directP99Ms: percentile(allDirect, 99),
      registryP50Ms: percentile(allRegistry, 50),
      registryP99Ms: percentile(allRegistry, 99),
      p50Ratio: median(p50Ratios),
      p99Ratio: median(p99Ratios),
      p99Ratios,
      controlP99Ratio: median(controlP99Ratios),
      controlP99Ratios,
      connections,
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
