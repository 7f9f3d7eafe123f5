import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Etcd3 } from 'etcd3';
import { InjectConfig, type ConfigValue } from '../../lib/index.js';
import {
  type BenchContext,
  type PropagationStats,
  measurePropagation,
  moduleSide,
  rawSide,
  startConfigApp,
} from '../bench-utils.js';

/** Result of the change propagation scenario. */
export type PropagationResult = PropagationStats;

const PREFIX = '/bench/propagation/';
const KEY = 'prop.key';

@Injectable()
class Listener {
  constructor(@InjectConfig(KEY, { parse: raw => raw }) readonly setting: ConfigValue<string>) {}
}

/**
 * Scenario 2: an outside etcd3 client puts values one after another (the next put only after the
 * previous one was seen, so nothing queues). For each put: time from the put call to the
 * `ConfigValue` emission of an app, or to the `put` event of a raw etcd3 watcher on the same key (its
 * own client, same process), one side at a time in alternating blocks ({@link measurePropagation}).
 */
export async function propagation(ctx: BenchContext): Promise<PropagationResult> {
  const changes = ctx.quick ? 300 : 1000;
  const writer = new Etcd3({ hosts: ctx.endpoint });
  const watcherClient = new Etcd3({ hosts: ctx.endpoint });
  const etcdKey = `${PREFIX}${KEY}`;
  await writer.put(etcdKey).value('v-init');

  try {
    return await measurePropagation({
      changes,
      module: moduleSide(
        () => startConfigApp(ctx.endpoint, PREFIX, [Listener]),
        app => app.get(Listener).setting,
        value => value,
      ),
      raw: rawSide(
        () => watcherClient.watch().key(etcdKey).create(),
        kv => kv.value.toString(),
      ),
      put: marker => () => writer.put(etcdKey).value(marker).exec(),
    });
  } finally {
    writer.close();
    watcherClient.close();
  }
}
