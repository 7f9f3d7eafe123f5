import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Etcd3, type Watcher } from 'etcd3';
import { EtcdModule, InjectConfig, type ConfigValue } from '../../lib/index.js';
import { type BenchContext, now, percentile, sleep } from '../bench-utils.js';

/** Propagation of one kind of structured config, module vs a raw etcd3 watcher. */
export interface DocumentPropagation {
  changes: number;
  moduleP50Ms: number;
  moduleP99Ms: number;
  rawP50Ms: number;
  rawP99Ms: number;
  p50Ratio: number;
  p99Ratio: number;
}

/** Result of the structured config scenario: a folder of 100 keys and a 50 KiB YAML document. */
export interface ConfigDocumentsResult {
  folder: DocumentPropagation;
  yaml: DocumentPropagation & { documentBytes: number };
}

const PREFIX = '/bench/documents/';
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
 * parsed object). For each put: time from the put call to the ConfigValue emission, and to the
 * `put` event of a raw etcd3 watcher on the same keys (its own client, same process, same puts).
 */
export async function configDocuments(ctx: BenchContext): Promise<ConfigDocumentsResult> {
  const changes = ctx.quick ? 150 : 500;
  const writer = new Etcd3({ hosts: ctx.endpoint });
  const watcherClient = new Etcd3({ hosts: ctx.endpoint });
  await writer.delete().prefix(PREFIX);
  for (let i = 0; i < FOLDER_KEYS; i++) {
    await writer.put(`${PREFIX}${FOLDER}k${String(i).padStart(3, '0')}`).value(`init-${i}`);
  }
  const documentBytes = 50 * 1024;
  await writer.put(`${PREFIX}${DOCUMENT}`).value(yamlDocument('init', documentBytes));

  @Module({
    imports: [EtcdModule.forRoot({ hosts: ctx.endpoint, config: { prefix: PREFIX } })],
    providers: [Listener],
  })
  class DocumentsModule {}

  const app = await NestFactory.createApplicationContext(DocumentsModule, {
    logger: false,
    abortOnError: false,
  });
  const watchers: Watcher[] = [];
  try {
    const listener = app.get(Listener);
    const folderWatcher = await watcherClient.watch().prefix(`${PREFIX}${FOLDER}`).create();
    const documentWatcher = await watcherClient.watch().key(`${PREFIX}${DOCUMENT}`).create();
    watchers.push(folderWatcher, documentWatcher);

    const folder = await measure(
      changes,
      listener.folder,
      value => {
        const leaf = value?.k042;
        return typeof leaf === 'string' ? leaf : '';
      },
      folderWatcher,
      kv => (kv.key.toString().endsWith('/k042') ? kv.value.toString() : ''),
      marker => () => writer.put(`${PREFIX}${FOLDER}k042`).value(marker).exec(),
    );
    const yaml = await measure(
      changes,
      listener.document,
      value => String(value?.marker ?? ''),
      documentWatcher,
      // The raw side only reads the marker line, as a raw consumer of its own format would.
      kv => /^marker: (.*)$/m.exec(kv.value.toString())?.[1] ?? '',
      marker => {
        const document = yamlDocument(marker, documentBytes); // built before the clock starts
        return () => writer.put(`${PREFIX}${DOCUMENT}`).value(document).exec();
      },
    );
    return { folder, yaml: { ...yaml, documentBytes } };
  } finally {
    for (const watcher of watchers) await watcher.cancel();
    await app.close();
    await writer.delete().prefix(PREFIX);
    writer.close();
    watcherClient.close();
  }
}

async function measure<T>(
  changes: number,
  value: ConfigValue<T>,
  markerOf: (value: T) => string,
  watcher: Watcher,
  rawMarkerOf: (kv: { key: Buffer; value: Buffer }) => string,
  /** Prepares the write of `marker` and returns the call that performs it (the timed part). */
  put: (marker: string) => () => Promise<unknown>,
): Promise<DocumentPropagation> {
  const moduleSeen = new Map<string, number>();
  const rawSeen = new Map<string, number>();
  let notify: (() => void) | undefined;
  const subscription = value.subscribe(v => {
    moduleSeen.set(markerOf(v), now());
    notify?.();
  });
  const onPut = (kv: { key: Buffer; value: Buffer }) => {
    rawSeen.set(rawMarkerOf(kv), now());
    notify?.();
  };
  watcher.on('put', onPut);
  const moduleMs: number[] = [];
  const rawMs: number[] = [];
  const warmup = 20;
  try {
    for (let i = 0; i < changes + warmup; i++) {
      const marker = `m-${i}`;
      const both = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`change ${marker} not seen in 10 s`)),
          10_000,
        );
        notify = () => {
          if (moduleSeen.has(marker) && rawSeen.has(marker)) {
            clearTimeout(timer);
            resolve();
          }
        };
      });
      const write = put(marker);
      const start = now();
      await write();
      notify?.();
      await both;
      if (i >= warmup) {
        moduleMs.push(moduleSeen.get(marker)! - start);
        rawMs.push(rawSeen.get(marker)! - start);
      }
      moduleSeen.clear();
      rawSeen.clear();
      await sleep(1);
    }
  } finally {
    subscription.unsubscribe();
    watcher.off('put', onPut);
  }
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
}
