import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Etcd3 } from 'etcd3';
import type { INestApplicationContext } from '@nestjs/common';
import { CORE_SCHEMA, load as loadYaml } from 'js-yaml';
import { EtcdConfigService, InjectConfig, type ConfigValue } from '../../lib/index.js';
import {
  type BenchContext,
  type PropagationStats,
  clientOfItsOwn,
  measurePropagation,
  moduleSide,
  rawSide,
  startConfigApp,
} from '../bench-utils.js';
import { runEtcdctl } from '../../test/support/etcd-server.js';
import { worstLoopBlock, yamlDocument } from '../../test/support/yaml-documents.js';

/** Propagation of one kind of structured config, module vs a raw etcd3 watcher. */
export type DocumentPropagation = PropagationStats;

/**
 * The event loop's worst block (ms, `monitorEventLoopDelay`) while four large YAML values are put
 * by an `etcdctl` child process (so the app's loop never encodes a put): to a key outside the app's
 * prefix (the baseline: the machine, GC, spawning the writer), to a key nothing in the app reads
 * (then read once with `get()`), and to a key a ConfigValue reads.
 */
export interface LargeYamlBlocks {
  documentBytes: number;
  puts: number;
  baselineWorstMs: number;
  unreadWorstMs: number;
  readWorstMs: number;
}

/** Result of the structured config scenario: a folder of 100 keys and a 50 KiB YAML document. */
export interface ConfigDocumentsResult {
  folder: DocumentPropagation;
  yaml: DocumentPropagation & { documentBytes: number };
  largeYaml: LargeYamlBlocks;
}

const PREFIX = '/bench/documents/';
/** The raw watcher's mirror of the app's prefix (outside it: the app never sees its puts). */
const RAW_PREFIX = '/bench/documents-raw/';
const FOLDER = 'folder/';
const FOLDER_KEYS = 100;
const DOCUMENT = 'document.yaml';
/** A 1.4 MiB YAML value (etcd's default request limit is 1.5 MiB), read by a ConfigValue. */
const LARGE = 'large.yaml';
/** The same, under a key nothing in the app reads. */
const LARGE_UNREAD = 'large-unread.yaml';
const LARGE_BYTES = 1.4 * 1024 * 1024;

@Injectable()
class Listener {
  constructor(
    @InjectConfig(FOLDER) readonly folder: ConfigValue<Record<string, unknown> | undefined>,
    @InjectConfig(DOCUMENT) readonly document: ConfigValue<{ marker?: string } | undefined>,
    @InjectConfig(LARGE) readonly large: ConfigValue<{ marker?: string } | undefined>,
  ) {}
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

  const boot = () => startConfigApp(ctx.endpoint, PREFIX, [Listener], 2 * 1024 * 1024);
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
    const largeYaml = await largeYamlBlocks(ctx, await boot());
    return { folder, yaml: { ...yaml, documentBytes }, largeYaml };
  } finally {
    await writer.delete().prefix(PREFIX);
    await writer.delete().prefix(RAW_PREFIX);
    writer.close();
    watcherClient.close();
  }
}

/** The worst event-loop block while 1.4 MiB YAML values arrive, read and unread. */
async function largeYamlBlocks(
  ctx: BenchContext,
  app: INestApplicationContext,
): Promise<LargeYamlBlocks> {
  // Another process writes: this loop only pipes the text to it.
  const put = async (key: string, value: string) => {
    await runEtcdctl([ctx.endpoint], undefined, undefined, ['put', '--', key], {
      input: value,
      timeoutMs: 30_000,
    });
  };
  const puts = 4;
  const documents = (tag: string) =>
    Array.from({ length: puts }, (_, i) => yamlDocument(`${tag}${i}`, LARGE_BYTES));
  const config = app.get(EtcdConfigService);
  const large = app.get(Listener).large;
  const until = async (done: () => boolean) => {
    for (let i = 0; i < 3000 && !done(); i++) await new Promise(r => setTimeout(r, 10));
  };
  try {
    const outside = documents('o');
    const baselineWorstMs = await worstLoopBlock(async () => {
      for (const document of outside) await put(`${RAW_PREFIX}${LARGE}`, document);
    });
    const unread = documents('u');
    const last = `u${puts - 1}`;
    const unreadWorstMs = await worstLoopBlock(async () => {
      for (const document of unread) await put(`${PREFIX}${LARGE_UNREAD}`, document);
      await until(() => config.get<{ marker?: string }>(LARGE_UNREAD)?.marker === last);
    });
    const read = documents('r');
    const lastRead = `r${puts - 1}`;
    const readWorstMs = await worstLoopBlock(async () => {
      for (const document of read) await put(`${PREFIX}${LARGE}`, document);
      await until(() => large.value?.marker === lastRead);
    });
    ctx.log(
      `  1.4 MiB YAML x ${puts}: worst loop block baseline ${baselineWorstMs.toFixed(1)} ms, ` +
        `unread ${unreadWorstMs.toFixed(1)} ms, read ${readWorstMs.toFixed(1)} ms`,
    );
    return { documentBytes: LARGE_BYTES, puts, baselineWorstMs, unreadWorstMs, readWorstMs };
  } finally {
    await app.close();
  }
}
