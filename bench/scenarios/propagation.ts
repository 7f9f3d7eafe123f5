import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Etcd3 } from 'etcd3';
import { EtcdModule, InjectConfig, type ConfigValue } from '../../lib/index.js';
import { type BenchContext, now, percentile, sleep } from '../bench-utils.js';

/** Result of the change propagation scenario. */
export interface PropagationResult {
  changes: number;
  moduleP50Ms: number;
  moduleP99Ms: number;
  rawP50Ms: number;
  rawP99Ms: number;
  p50Ratio: number;
  p99Ratio: number;
}

const PREFIX = '/bench/propagation/';
const KEY = 'prop.key';

@Injectable()
class Listener {
  constructor(@InjectConfig(KEY, { parse: raw => raw }) readonly setting: ConfigValue<string>) {}
}

/**
 * Scenario 2: an outside etcd3 client puts `changes` values one after another (the next put only
 * after both listeners saw the previous one, so nothing queues). For each put: time from the put
 * call to the `ConfigValue` emission, and to the `put` event of a raw etcd3 watcher on the same key
 * (its own client, same process, same puts).
 */
export async function propagation(ctx: BenchContext): Promise<PropagationResult> {
  const changes = ctx.quick ? 300 : 1000;
  const writer = new Etcd3({ hosts: ctx.endpoint });
  const watcherClient = new Etcd3({ hosts: ctx.endpoint });
  const etcdKey = `${PREFIX}${KEY}`;
  await writer.put(etcdKey).value('v-init');

  @Module({
    imports: [EtcdModule.forRoot({ hosts: ctx.endpoint, config: { prefix: PREFIX } })],
    providers: [Listener],
  })
  class PropagationModule {}

  const app = await NestFactory.createApplicationContext(PropagationModule, {
    logger: false,
    abortOnError: false,
  });
  const rawWatcher = await watcherClient.watch().key(etcdKey).create();
  try {
    const listener = app.get(Listener);
    const moduleSeen = new Map<string, number>();
    const rawSeen = new Map<string, number>();
    let notify: (() => void) | undefined;
    const subscription = listener.setting.subscribe(value => {
      moduleSeen.set(value, now());
      notify?.();
    });
    rawWatcher.on('put', kv => {
      rawSeen.set(kv.value.toString(), now());
      notify?.();
    });
    const moduleMs: number[] = [];
    const rawMs: number[] = [];
    const warmup = 20;
    for (let i = 0; i < changes + warmup; i++) {
      const value = `v-${i}`;
      const both = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`change ${value} not seen in 10 s`)),
          10_000,
        );
        notify = () => {
          if (moduleSeen.has(value) && rawSeen.has(value)) {
            clearTimeout(timer);
            resolve();
          }
        };
      });
      const start = now();
      await writer.put(etcdKey).value(value);
      notify?.();
      await both;
      if (i >= warmup) {
        moduleMs.push(moduleSeen.get(value)! - start);
        rawMs.push(rawSeen.get(value)! - start);
      }
      moduleSeen.clear();
      rawSeen.clear();
      await sleep(1);
    }
    subscription.unsubscribe();
    const moduleP50Ms = percentile(moduleMs, 50);
    const moduleP99Ms = percentile(moduleMs, 99);
    const rawP50Ms = percentile(rawMs, 50);
    const rawP99Ms = percentile(rawMs, 99);
    return {
      changes,
      moduleP50Ms,
      moduleP99Ms,
      rawP50Ms,
      rawP99Ms,
      p50Ratio: moduleP50Ms / rawP50Ms,
      p99Ratio: moduleP99Ms / rawP99Ms,
    };
  } finally {
    await rawWatcher.cancel();
    await app.close();
    writer.close();
    watcherClient.close();
  }
}
