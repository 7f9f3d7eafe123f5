import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Etcd3 } from 'etcd3';
import { EtcdConfigService, InjectConfig, type ConfigValue } from '../../lib/index.js';
import { type BenchContext, now, startConfigApp } from '../bench-utils.js';

/** Result of the config read scenario. */
export interface ConfigReadResult {
  /** The slower of `ConfigValue.value` and `config.get()`. */
  moduleOpsPerSec: number;
  configValueOpsPerSec: number;
  configGetOpsPerSec: number;
  rawOpsPerSec: number;
  ratio: number;
}

const PREFIX = '/bench/read/';
const KEY = 'read.key';

@Injectable()
class Reader {
  constructor(@InjectConfig(KEY) readonly setting: ConfigValue<{ limit: number }>) {}
}

let sink = 0;

/** Calls `read` in batches for `ms` and returns calls per second. */
function syncOpsPerSec(read: () => unknown, ms: number): number {
  const batch = 10_000;
  let calls = 0;
  const start = now();
  const end = start + ms;
  let t = start;
  while (t < end) {
    for (let i = 0; i < batch; i++) if (read() !== undefined) sink++;
    calls += batch;
    t = now();
  }
  return (calls / (t - start)) * 1000;
}

/**
 * Scenario 1: sequential reads of one key. `ConfigValue.value` and `EtcdConfigService.get()` serve
 * from memory; the baseline is `etcd3.get(key).string()`, one round trip per read.
 */
export async function configRead(ctx: BenchContext): Promise<ConfigReadResult> {
  const ms = ctx.quick ? 500 : 2000;
  const raw = new Etcd3({ hosts: ctx.endpoint });
  await raw.put(`${PREFIX}${KEY}`).value(JSON.stringify({ limit: 100 }));

  const app = await startConfigApp(ctx.endpoint, PREFIX, [Reader]);
  try {
    const reader = app.get(Reader);
    const config = app.get(EtcdConfigService);
    if (reader.setting.value.limit !== 100) throw new Error('config was not loaded');
    // Warm up both paths (JIT) before measuring.
    syncOpsPerSec(() => reader.setting.value, 100);
    syncOpsPerSec(() => config.get(KEY), 100);
    const configValueOpsPerSec = syncOpsPerSec(() => reader.setting.value, ms);
    const configGetOpsPerSec = syncOpsPerSec(() => config.get(KEY), ms);

    for (let i = 0; i < 50; i++) await raw.get(`${PREFIX}${KEY}`).string();
    let rawCalls = 0;
    const start = now();
    let t = start;
    while (t < start + ms) {
      if ((await raw.get(`${PREFIX}${KEY}`).string()) !== null) sink++;
      rawCalls++;
      t = now();
    }
    const rawOpsPerSec = (rawCalls / (t - start)) * 1000;
    const moduleOpsPerSec = Math.min(configValueOpsPerSec, configGetOpsPerSec);
    ctx.log(`  sink ${sink % 2}`);
    return {
      moduleOpsPerSec,
      configValueOpsPerSec,
      configGetOpsPerSec,
      rawOpsPerSec,
      ratio: moduleOpsPerSec / rawOpsPerSec,
    };
  } finally {
    await app.close();
    raw.close();
  }
}
