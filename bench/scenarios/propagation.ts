import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Etcd3 } from 'etcd3';
import { InjectConfig, type ConfigValue } from '../../lib/index.js';
import {
  type BenchContext,
  type PropagationStats,
  clientOfItsOwn,
  measurePropagation,
  moduleSide,
  rawSide,
  startConfigApp,
} from '../bench-utils.js';

/** Result of the change propagation scenario. */
export type PropagationResult = PropagationStats;

const PREFIX = '/bench/propagation/';
/** The raw watcher's mirror of the app's prefix (outside it: the app never sees its puts). */
const RAW_PREFIX = '/bench/propagation-raw/';
/** The A/A control watcher's own mirror. */
const CONTROL_PREFIX = '/bench/propagation-control/';
const KEY = 'prop.key';

@Injectable()
class Listener {
  constructor(@InjectConfig(KEY, { parse: raw => raw }) readonly setting: ConfigValue<string>) {}
}

/**
 * Scenario 2: an outside etcd3 client puts values one after another (the next put only after the
 * previous one was seen, so nothing queues). For each put: time from the put call to the
 * `ConfigValue` emission of an app, or to the `put` event of a raw etcd3 watcher (its own client,
 * same process) on the same key under a mirror prefix, one side at a time in alternating blocks
 * ({@link measurePropagation}). A second raw watcher on a mirror of its own is the A/A control: its
 * ratio to the first is what two identical sides read apart on the machine of the run.
 */
export async function propagation(ctx: BenchContext): Promise<PropagationResult> {
  const changes = ctx.quick ? 300 : 1000;
  // The writer stands for another process: a connection of its own (see clientOfItsOwn).
  const writer = clientOfItsOwn(ctx.endpoint);
  const watcherClient = new Etcd3({ hosts: ctx.endpoint });
  const moduleKey = `${PREFIX}${KEY}`;
  const rawKey = `${RAW_PREFIX}${KEY}`;
  const controlKey = `${CONTROL_PREFIX}${KEY}`;
  await writer.put(moduleKey).value('v-init');
  await writer.put(rawKey).value('v-init');
  await writer.put(controlKey).value('v-init');

  try {
    return await measurePropagation({
      changes,
      module: moduleSide(
        () => startConfigApp(ctx.endpoint, PREFIX, [Listener]),
        app => app.get(Listener).setting,
        value => value,
        marker => () => writer.put(moduleKey).value(marker).exec(),
      ),
      raw: rawSide(
        () => watcherClient.watch().key(rawKey).create(),
        kv => kv.value.toString(),
        marker => () => writer.put(rawKey).value(marker).exec(),
      ),
      // A/A: a second raw watcher, built like the first (so on the same etcd3 connection).
      control: rawSide(
        () => watcherClient.watch().key(controlKey).create(),
        kv => kv.value.toString(),
        marker => () => writer.put(controlKey).value(marker).exec(),
      ),
    });
  } finally {
    writer.close();
    watcherClient.close();
  }
}
