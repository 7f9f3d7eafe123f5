import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Etcd3 } from 'etcd3';
import type { Subscription } from 'rxjs';
import { EtcdConfigService, EtcdModule, EtcdRegistryService } from '../../lib/index.js';
import {
  type BenchContext,
  countEstablished,
  memoryAfterGc,
  now,
  startChild,
  OBSERVER_CONFIG,
} from '../bench-utils.js';
import { instanceValue } from './registry.js';

/** Result of the scale scenario. */
export interface ScaleResult {
  keys: number;
  keyBytes: number;
  writeMs: number;
  loadMs: number;
  rawListMs: number;
  emptyBootMs: number;
  heapMb: number;
  rssMb: number;
  instances: number;
  services: number;
  memMb: number;
  registryRssMb: number;
  updates: number;
  eventsPerSec: number;
  writesPerSec: number;
  tcpConnections: number;
  tcpKeys: number;
  tcpServices: number;
}

/** Runs `count` async tasks with at most `parallel` in flight. */
async function pooled(count: number, parallel: number, task: (i: number) => PromiseLike<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

/**
 * Scenario 5:
 * - 10,000 config keys of 1 KiB: boot time of an app whose config prefix holds them, and heap/RSS
 *   growth (after GC) while it runs, next to a raw etcd3 `getAll().prefix()` of the same keys.
 * - 1,000 instances across 100 services, all watched by one app: heap growth, and how fast a
 *   burst of 1,000 updates reaches the lists.
 * - TCP connections from one app (child process) with 100 injected keys and 20 watched services.
 */
export async function scale(ctx: BenchContext): Promise<ScaleResult> {
  const keys = ctx.quick ? 2_000 : 10_000;
  const keyBytes = 1024;
  const services = 100;
  const perService = 10;
  const instances = services * perService;
  // The raw baseline needs a bigger receive limit: 10k x 1 KiB in one range response is ~10 MiB,
  // over grpc-js's default 4 MiB (the module pages its list and raises the limit itself).
  const client = new Etcd3({
    hosts: ctx.endpoint,
    grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 },
  });
  const configPrefix = '/bench/scale/config/';
  try {
    // ---- 10k config keys ------------------------------------------------------------------------
    const filler = 'x'.repeat(keyBytes - 32);
    let t = now();
    await pooled(keys, 256, i =>
      client
        .put(`${configPrefix}key-${String(i).padStart(5, '0')}`)
        .value(JSON.stringify({ i, filler }).slice(0, keyBytes).padEnd(keyBytes, ' '))
        .exec(),
    );
    const writeMs = now() - t;
    ctx.log(`  wrote ${keys} keys in ${Math.round(writeMs)} ms`);

    t = now();
    const listed = await client.getAll().prefix(configPrefix).buffers();
    const rawListMs = now() - t;
    if (Object.keys(listed).length !== keys) throw new Error('raw list is incomplete');

    @Module({
      imports: [
        EtcdModule.forRoot({ hosts: ctx.endpoint, config: { prefix: '/bench/scale/empty/' } }),
      ],
    })
    class EmptyModule {}
    t = now();
    const empty = await NestFactory.createApplicationContext(EmptyModule, {
      logger: false,
      abortOnError: false,
    });
    const emptyBootMs = now() - t;
    await empty.close();

    @Module({
      imports: [EtcdModule.forRoot({ hosts: ctx.endpoint, config: { prefix: configPrefix } })],
    })
    class ScaleConfigModule {}
    const before = await memoryAfterGc();
    t = now();
    const app = await NestFactory.createApplicationContext(ScaleConfigModule, {
      logger: false,
      abortOnError: false,
    });
    const loadMs = now() - t;
    let heapMb: number;
    let rssMb: number;
    try {
      const loaded = Object.keys(app.get(EtcdConfigService).getAll()).length;
      if (loaded !== keys) throw new Error(`app loaded ${loaded} of ${keys} keys`);
      const after = await memoryAfterGc();
      heapMb = after.heapMb - before.heapMb;
      rssMb = after.rssMb - before.rssMb;
    } finally {
      await app.close();
    }
    await client.delete().prefix(configPrefix);

    // ---- 1,000 instances across 100 services, all watched ----------------------------------------
    @Module({ imports: [EtcdModule.forRoot({ hosts: ctx.endpoint, config: OBSERVER_CONFIG })] })
    class WatchAllModule {}
    const observer = await NestFactory.createApplicationContext(WatchAllModule, {
      logger: false,
      abortOnError: false,
    });
    const lease = client.lease(120, { autoKeepAlive: false });
    let memMb: number;
    let registryRssMb: number;
    let eventsPerSec: number;
    let writesPerSec: number;
    const updates = instances;
    try {
      const registry = observer.get(EtcdRegistryService);
      const name = (s: number) => `scale-svc-${String(s).padStart(3, '0')}`;
      const memBefore = await memoryAfterGc();
      const subscriptions: Subscription[] = [];
      let emissions = 0;
      let seenVersion = new Map<string, number>();
      let wanted = 0;
      let onProgress: (() => void) | undefined;
      for (let s = 0; s < services; s++) {
        subscriptions.push(
          registry.instances$(name(s)).subscribe(list => {
            emissions++;
            for (const inst of list) {
              const v = Number(inst.metadata.version ?? 0);
              const key = `${inst.serviceName}/${inst.instanceId}`;
              if ((seenVersion.get(key) ?? -1) < v) seenVersion.set(key, v);
            }
            onProgress?.();
          }),
        );
      }
      const reached = (version: number) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`instances not at v${version}`)), 60_000);
          onProgress = () => {
            let n = 0;
            for (const v of seenVersion.values()) if (v >= version) n++;
            if (n >= wanted) {
              clearTimeout(timer);
              onProgress = undefined;
              resolve();
            }
          };
          onProgress();
        });
      const putAll = (version: number) =>
        pooled(instances, 128, i => {
          const s = i % services;
          const id = `i-${String(i).padStart(4, '0')}`;
          const value = JSON.parse(instanceValue(name(s), id, 9000 + i)) as Record<string, unknown>;
          value.metadata = { version };
          return lease
            .put(`/services/${name(s)}/${id}`)
            .value(JSON.stringify(value))
            .exec();
        });
      wanted = instances;
      const registered = reached(0);
      await putAll(0);
      await registered;
      const memAfter = await memoryAfterGc();
      memMb = memAfter.heapMb - memBefore.heapMb;
      registryRssMb = memAfter.rssMb - memBefore.rssMb;

      seenVersion = new Map();
      emissions = 0;
      const updated = reached(1);
      t = now();
      await putAll(1);
      writesPerSec = (updates / (now() - t)) * 1000;
      await updated;
      eventsPerSec = (updates / (now() - t)) * 1000;
      ctx.log(`  ${emissions} list emissions for ${updates} updates`);
      for (const sub of subscriptions) sub.unsubscribe();
    } finally {
      await lease.revoke().catch(() => undefined);
      await observer.close();
    }

    // ---- TCP connections of one app ----------------------------------------------------------------
    const tcpKeys = 100;
    const tcpServices = 20;
    const child = startChild({
      BENCH_ETCD: ctx.endpoint,
      BENCH_MODE: 'tcp',
      BENCH_SERVICE: 'bench-tcp',
      BENCH_TTL: '10',
      BENCH_KEYS: String(tcpKeys),
      BENCH_SERVICES: String(tcpServices),
    });
    let tcpConnections: number;
    try {
      await child.line('ready', 60_000);
      tcpConnections = countEstablished(child.pid, ctx.clientPort);
    } finally {
      await child.kill();
    }

    return {
      keys,
      keyBytes,
      writeMs,
      loadMs,
      rawListMs,
      emptyBootMs,
      heapMb,
      rssMb,
      instances,
      services,
      memMb,
      registryRssMb,
      updates,
      eventsPerSec,
      writesPerSec,
      tcpConnections,
      tcpKeys,
      tcpServices,
    };
  } finally {
    client.close();
  }
}
