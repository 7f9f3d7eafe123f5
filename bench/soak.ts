/**
 * `npm run soak` (env SOAK_MINUTES, default 3): 50 instances flapping (lease grant + put, then
 * revoke, over and over) and 100 config changes per second against one observer app that watches
 * both and registers itself. Every 10 s: heap after a full GC and the active handles
 * (`process.getActiveResourcesInfo()`). Ends by itself, stops etcd, and exits non-zero when the
 * observer fell behind or the heap kept growing.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Etcd3 } from 'etcd3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EtcdModule,
  EtcdRegistryService,
  InjectConfig,
  type ConfigValue,
  type ServiceInstance,
} from '../lib/index.js';
import { EtcdServer } from '../test/support/index.js';
import { BENCH_DIR, memoryAfterGc, now, onSignalDispose, round, sleep } from './bench-utils.js';
import { instanceValue } from './scenarios/registry.js';

const minutes = Number(process.env.SOAK_MINUTES ?? '3');
const FLAPPERS = 50;
const CHANGES_PER_SEC = 100;
const SAMPLE_MS = 10_000;
const SERVICE = 'soak-flap';

@Injectable()
class SoakListener {
  constructor(
    @InjectConfig('soak.counter', { parse: raw => Number(raw) })
    readonly counter: ConfigValue<number>,
  ) {}
}

interface Sample {
  atSec: number;
  heapMb: number;
  rssMb: number;
  handles: Record<string, number>;
  instancesSeen: number;
  configEmissions: number;
  configLag: number;
}

function countHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

async function main(): Promise<number> {
  const deadline = now() + minutes * 60_000;
  const etcd = await EtcdServer.start({ name: 'soak' });
  etcdServer = etcd;
  const writer = new Etcd3({ hosts: etcd.endpoint });
  let stopping = false;
  try {
    await writer.put('/soak/config/soak.counter').value('0');
    @Module({
      imports: [
        EtcdModule.forRoot({
          hosts: etcd.endpoint,
          config: { prefix: '/soak/config/' },
          registry: { serviceName: 'soak-observer', port: 7100, host: '127.0.0.1', ttl: 5 },
        }),
      ],
      providers: [SoakListener],
    })
    class SoakModule {}
    const app = await NestFactory.createApplicationContext(SoakModule, {
      logger: ['error', 'warn'],
      abortOnError: false,
    });
    const listener = app.get(SoakListener);
    const registry = app.get(EtcdRegistryService);
    let latest: ServiceInstance[] = [];
    let emissions = 0;
    let lastCounter = 0;
    const subs = [
      registry.instances$(SERVICE).subscribe(list => (latest = list)),
      listener.counter.subscribe(v => {
        emissions++;
        lastCounter = v;
      }),
    ];

    // 100 config changes per second, paced (never more than one put in flight).
    let written = 0;
    const configLoop = (async () => {
      const start = now();
      while (!stopping) {
        written++;
        await writer.put('/soak/config/soak.counter').value(String(written));
        const due = start + (written * 1000) / CHANGES_PER_SEC;
        const wait = due - now();
        if (wait > 0) await sleep(wait);
      }
    })();

    // 50 instances, each registering and revoking every 0.5-2 s.
    const flappers = Array.from({ length: FLAPPERS }, async (_, i) => {
      const id = `flap-${String(i).padStart(2, '0')}`;
      while (!stopping) {
        const lease = writer.lease(10, { autoKeepAlive: false });
        await lease.put(`/services/${SERVICE}/${id}`).value(instanceValue(SERVICE, id, 9100 + i));
        await sleep(500 + Math.random() * 1500);
        await lease.revoke();
        await sleep(100 + Math.random() * 400);
      }
    });

    const samples: Sample[] = [];
    const t0 = now();
    while (now() < deadline) {
      await sleep(Math.min(SAMPLE_MS, Math.max(0, deadline - now())));
      const mem = await memoryAfterGc();
      const sample: Sample = {
        atSec: round((now() - t0) / 1000, 1),
        heapMb: round(mem.heapMb, 2),
        rssMb: round(mem.rssMb, 1),
        handles: countHandles(),
        instancesSeen: latest.length,
        configEmissions: emissions,
        configLag: written - lastCounter,
      };
      samples.push(sample);
      console.log(
        `${String(sample.atSec).padStart(6)} s  heap ${sample.heapMb} MiB  rss ${sample.rssMb} MiB  ` +
          `instances ${sample.instancesSeen}  config emissions ${sample.configEmissions} (lag ${sample.configLag})  ` +
          `handles ${JSON.stringify(sample.handles)}`,
      );
    }
    stopping = true;
    await Promise.all([configLoop, ...flappers]);
    for (const sub of subs) sub.unsubscribe();
    await app.close();

    // Verdict: compare the second half's heap with the first sample after warm-up.
    const warm = samples[Math.min(1, samples.length - 1)]!;
    const last = samples[samples.length - 1]!;
    const growthMb = last.heapMb - warm.heapMb;
    const lagging = last.configLag > CHANGES_PER_SEC; // more than 1 s behind
    console.log(
      `\nsoak ${minutes} min: ${written} config changes, heap ${warm.heapMb} -> ${last.heapMb} MiB ` +
        `(${growthMb >= 0 ? '+' : ''}${round(growthMb, 2)} MiB), final config lag ${last.configLag}`,
    );
    writeFileSync(
      join(BENCH_DIR, 'results', 'soak.tmp.json'),
      `${JSON.stringify({ minutes, written, samples }, null, 2)}\n`,
    );
    const leaking = samples.length >= 3 && growthMb > Math.max(5, warm.heapMb * 0.2);
    if (leaking) console.log('heap kept growing: possible leak');
    if (lagging) console.log('observer fell behind the config changes');
    return leaking || lagging ? 1 : 0;
  } finally {
    stopping = true;
    writer.close();
    await etcd.dispose();
  }
}

let etcdServer: EtcdServer | undefined;
onSignalDispose(() => etcdServer);
main().then(
  code => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
