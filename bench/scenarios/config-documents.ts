import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Etcd3 } from 'etcd3';
import { CORE_SCHEMA, load as loadYaml } from 'js-yaml';
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

/** Propagation of one kind of structured config, module vs a raw etcd3 watcher. */
export type DocumentPropagation = PropagationStats;

/** Result of the structured config scenario: a folder of 100 keys and a 50 KiB YAML document. */
export interface ConfigDocumentsResult {
  folder: DocumentPropagation;
  yaml: DocumentPropagation & { documentBytes: number };
}

const PREFIX = '/bench/documents/';
/** The raw watcher's mirror of the app's prefix (outside it: the app never sees its puts). */
const RAW_PREFIX = '/bench/documents-raw/';
const FOLDER = 'folder/';
const FOLDER_KEYS = 100;
const DOCUMENT = 'document.yaml';

@Injectable()
class Listener {
  constructor(
    @InjectConfig(FOLDER) readonly folder: ConfigValue<Record<string, unknown> | undefined>,
    @InjectConfig(DOCUMENT) readonly document: ConfigValue<{ marker?: string } | undefined>,
  ) {}
}

/** A YAML document of about `bytes` bytes whose `marker` field is `marker`. */
function yamlDocument(marker: string, bytes: number): string {
  const lines = [`marker: ${marker}`, 'services:'];
  let size = lines.join('\n').length;
  for (let i = 0; size < bytes; i++) {
    const block = [
      `  - name: service-${i}`,
      `    url: http://service-${i}.internal:8080/api`,
      `    timeoutMs: ${1000 + i}`,
      `    tags: [a, b, c]`,
    ].join('\n');
    lines.push(block);
    size += block.length + 1;
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Scenario: a folder of 100 keys (one key changes per put; the folder's ConfigValue emits the
 * assembled object) and a 50 KiB YAML document (each put a new document; the ConfigValue emits the
 * parsed object). For each put: time from the put call to the ConfigValue emission of an app, or
 * to the `put` event of a raw etcd3 watcher on the same keys under a mirror prefix (its own client,
 * same process), one side at a time in alternating blocks (see measurePropagation).
 */
export async function configDocuments(ctx: BenchContext): Promise<ConfigDocumentsResult> {
  const changes = ctx.quick ? 150 : 500;
  // The writer stands for another process: a connection of its own (see clientOfItsOwn).
  const writer = clientOfItsOwn(ctx.endpoint);
  const watcherClient = new Etcd3({ hosts: ctx.endpoint });
  const documentBytes = 50 * 1024;
  for (const prefix of [PREFIX, RAW_PREFIX]) {
    await writer.delete().prefix(prefix);
    for (let i = 0; i < FOLDER_KEYS; i++) {
      await writer.put(`${prefix}${FOLDER}k${String(i).padStart(3, '0')}`).value(`init-${i}`);
    }
    await writer.put(`${prefix}${DOCUMENT}`).value(yamlDocument('init', documentBytes));
  }

  const boot = () => startConfigApp(ctx.endpoint, PREFIX, [Listener]);
  const putDocument = (key: string) => (marker: string) => {
    const document = yamlDocument(marker, documentBytes); // built before the clock starts
    return () => writer.put(key).value(document).exec();
  };
  try {
    const folder = await measurePropagation({
      changes,
      module: moduleSide(
        boot,
        app => app.get(Listener).folder,
        value => {
          const leaf = value?.k042;
          return typeof leaf === 'string' ? leaf : '';
        },
        marker => () => writer.put(`${PREFIX}${FOLDER}k042`).value(marker).exec(),
      ),
      raw: rawSide(
        () => watcherClient.watch().prefix(`${RAW_PREFIX}${FOLDER}`).create(),
        kv => (kv.key.toString().endsWith('/k042') ? kv.value.toString() : ''),
        marker => () => writer.put(`${RAW_PREFIX}${FOLDER}k042`).value(marker).exec(),
      ),
    });
    const yaml = await measurePropagation({
      changes,
      module: moduleSide(
        boot,
        app => app.get(Listener).document,
        value => String(value?.marker ?? ''),
        putDocument(`${PREFIX}${DOCUMENT}`),
      ),
      // A raw consumer of a YAML document parses it too (with the same library: js-yaml, the fastest).
      raw: rawSide(
        () => watcherClient.watch().key(`${RAW_PREFIX}${DOCUMENT}`).create(),
        kv =>
          (loadYaml(kv.value.toString(), { schema: CORE_SCHEMA }) as { marker?: string }).marker ??
          '',
        putDocument(`${RAW_PREFIX}${DOCUMENT}`),
      ),
    });
    return { folder, yaml: { ...yaml, documentBytes } };
  } finally {
    await writer.delete().prefix(PREFIX);
    await writer.delete().prefix(RAW_PREFIX);
    writer.close();
    watcherClient.close();
  }
}
