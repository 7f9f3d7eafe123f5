import type { Logger } from '@nestjs/common';
import * as jsYaml from 'js-yaml';
import { parseYamlDocument } from '../../lib/config/config-codec.js';
import { YAML_ON_LOOP_BYTES } from '../../lib/config/config-decoder.js';
import {
  type ConfigEntry,
  ConfigStore,
  type ConfigStoreOptions,
  type StoreChange,
} from '../../lib/config/config-store.js';
import type { InformerEntry } from '../../lib/watch/informer.interfaces.js';

/** A YAML document of at least `bytes` bytes whose `marker` is `marker`. */
function bigYaml(marker: string, bytes: number): string {
  const lines = [`marker: ${marker}`, 'items:'];
  for (let size = 0, i = 0; size < bytes; i++) {
    const line = `  - { name: item-${i}, weight: ${i} }`;
    lines.push(line);
    size += line.length + 1;
  }
  return `${lines.join('\n')}\n`;
}

describe('parseYamlDocument (js-yaml, core schema, capped aliases)', () => {
  it('parses the core schema; an empty document is null; __proto__ is an own key', () => {
    expect(parseYamlDocument('a: 1\nb: [x, true, ~]\nwhen: 2026-01-01\n', jsYaml)).toEqual({
      ok: true,
      value: { a: 1, b: ['x', true, null], when: '2026-01-01' },
    });
    expect(parseYamlDocument('', jsYaml)).toEqual({ ok: true, value: null });
    const result = parseYamlDocument('__proto__: { polluted: 1 }\n', jsYaml);
    const value = (result as { value: Record<string, unknown> }).value;
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });

  it('accepts a few aliases; rejects a document its aliases blow up (the 99-alias bomb)', () => {
    const reuse = 'defaults: &d { timeout: 5, retries: 3 }\na: *d\nb: *d\n';
    expect(parseYamlDocument(reuse, jsYaml).ok).toBe(true);
    const lines = ['base: &a'];
    for (let i = 0; i < 9000; i++) lines.push(`  k${i}: value-${i}`);
    for (let j = 0; j < 99; j++) lines.push(`c${j}: *a`);
    const bomb = parseYamlDocument(lines.join('\n'), jsYaml);
    expect(bomb.ok).toBe(false);
    expect(!bomb.ok && bomb.reason).toMatch(
      /^invalid YAML document: its aliases expand \d+ nodes to \d+ \(more than \d+\)/,
    );
  });
});

describe('ConfigStore: decoding when read, capped, large YAML off the loop', () => {
  let warnings: string[];
  const logger = { warn: (line: string) => warnings.push(line) } as unknown as Logger;
  const stores: ConfigStore[] = [];
  beforeEach(() => {
    warnings = [];
  });
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
  });

  /** A store over one fake informer map; `apply` puts a value as a watch event would. */
  function makeStore(options: ConfigStoreOptions = {}) {
    const batches: StoreChange[][] = [];
    const store = new ConfigStore(
      ['/config/'],
      [],
      logger,
      changes => batches.push(changes),
      undefined,
      options,
    );
    stores.push(store);
    const held = new Map<string, InformerEntry>();
    store.synced(
      '/config/',
      { get: k => held.get(k), current: () => ({ entries: held.values() }) },
      0,
    );
    const apply = (key: string, text: string, revision: number): ConfigEntry => {
      const etcdKey = `/config/${key}`;
      const previous = held.get(etcdKey);
      const put = {
        key: etcdKey,
        value: Buffer.from(text),
        modRevision: revision,
        createRevision: 1,
        version: revision,
        lease: '0',
      };
      const entry = store.transformFor('/config/')(put, previous) as ConfigEntry;
      held.set(etcdKey, entry);
      store.changed({ type: 'put', key: etcdKey, entry, previous, revision, resync: false });
      store.flush();
      return entry;
    };
    return { store, batches, apply };
  }

  it('a key nothing reads is decoded when read, and a rejected revision then keeps the one before', () => {
    const { store, apply } = makeStore({ isRead: () => false });
    const good = apply('db.json', '{"port":1}', 2);
    const bad = apply('db.json', '{bad', 3);
    expect(good.isDecoded).toBe(false);
    expect(bad.isDecoded).toBe(false);
    expect(warnings).toEqual([]);
    expect(store.effective('db.json')?.decoded).toEqual({ port: 1 });
    expect(warnings).toEqual([
      expect.stringMatching(/"db\.json".*revision 3 rejected: invalid JSON.*revision 2$/),
    ]);
  });

  it('a value over maxValueBytes is rejected on arrival with one warning naming the key and the limit', () => {
    const { store, apply } = makeStore({ maxValueBytes: 16 });
    apply('name', 'short', 2);
    expect(store.effective('name')?.decoded).toBe('short');
    apply('name', 'x'.repeat(17), 3);
    expect(warnings).toEqual([
      'config "name" (/config/name) at revision 3 rejected: value is 17 bytes, more than config.maxValueBytes (16); keeping the value of revision 2',
    ]);
    expect(store.effective('name')?.decoded).toBe('short');
  });

  it(`a YAML document over ${YAML_ON_LOOP_BYTES} bytes is parsed in the worker: the revision before is served until then`, async () => {
    const { store, batches, apply } = makeStore();
    apply('big.yaml', 'marker: small\n', 2);
    expect(store.effective('big.yaml')?.decoded).toEqual({ marker: 'small' });
    const big = apply('big.yaml', bigYaml('big', YAML_ON_LOOP_BYTES + 1), 3);
    expect(store.effective('big.yaml')?.modRevision).toBe(2);
    await store.idle();
    expect(big.isDecoded).toBe(true);
    expect(store.effective('big.yaml')).toBe(big);
    expect((big.decoded as { marker: string }).marker).toBe('big');
    const last = batches[batches.length - 1]!;
    expect(last.map(c => [c.key, c.previous?.modRevision, c.next?.modRevision])).toEqual([
      ['big.yaml', 2, 3],
    ]);
    // An invalid large document: rejected in the worker, one warning, the last good kept.
    apply('big.yaml', `${bigYaml('bad', YAML_ON_LOOP_BYTES + 1)}oops: [\n`, 4);
    await store.idle();
    expect(store.effective('big.yaml')).toBe(big);
    expect(warnings).toEqual([
      expect.stringMatching(/revision 4 rejected: invalid YAML document: .*revision 3$/),
    ]);
  });
});
