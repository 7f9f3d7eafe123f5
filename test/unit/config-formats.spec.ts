import { jest } from '@jest/globals';
import type { Logger } from '@nestjs/common';
import { z as z3 } from 'zod/v3';
import { z as z4 } from 'zod';
import {
  decodeByFormat,
  describeSchemaError,
  formatOf,
  validate,
} from '../../lib/config/config-codec.js';
import {
  ConfigEntry,
  ConfigStore,
  RejectedRevision,
  assembleFolder,
  type ConfigStoreOptions,
  type StoreChange,
} from '../../lib/config/config-store.js';
import { FolderValue } from '../../lib/config/config-folder.js';
import type { InformerEntry } from '../../lib/watch/informer.interfaces.js';
import { seededRandom } from '../support/random.js';
import type { StandardSchemaLike } from '../../lib/config/config-value.interface.js';
import { sameEffective } from '../../lib/config/effective-value.js';
import { defineConfig, type ConfigTypeOf, type ConfigValueOf } from '../../lib/index.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');

describe('formats by key name', () => {
  it('picks JSON for *.json, YAML for *.yaml / *.yml, else auto', () => {
    expect(formatOf('db.json')).toBe('json');
    expect(formatOf('db/settings.YAML')).toBe('yaml');
    expect(formatOf('flags.yml')).toBe('yaml');
    expect(formatOf('greeting')).toBe('auto');
    expect(formatOf('json.d/plain')).toBe('auto');
  });

  it('decodes YAML documents, JSON documents and the auto rule', () => {
    expect(decodeByFormat('host: db\nport: 5432\ntags: [a, b]\n', 'yaml')).toEqual({
      ok: true,
      value: { host: 'db', port: 5432, tags: ['a', 'b'] },
    });
    expect(decodeByFormat('{"a":1}', 'json')).toEqual({ ok: true, value: { a: 1 } });
    expect(decodeByFormat('hello', 'auto')).toEqual({ ok: true, value: 'hello' });
    expect(decodeByFormat('42', 'auto')).toEqual({ ok: true, value: 42 });
  });

  it('rejects an invalid YAML or JSON document with one readable line', () => {
    const yaml = decodeByFormat('host: [unclosed\n  port: 1', 'yaml');
    expect(yaml.ok).toBe(false);
    expect(!yaml.ok && yaml.reason).toMatch(/^invalid YAML document: /);
    expect(!yaml.ok && yaml.reason).not.toContain('\n');
    const located = decodeByFormat('a: 1\nb: [1, 2\nc: 3\n', 'yaml');
    expect(!located.ok && located.reason).toBe(
      'invalid YAML document: missed comma between flow collection entries at line 3, column 1',
    );
    const json = decodeByFormat('plain words', 'json');
    expect(json.ok).toBe(false);
    expect(!json.ok && json.reason).toMatch(/^invalid JSON document: /);
  });
});

describe('schema validation and its messages', () => {
  const shape = { host: 'db', port: 'not a number' };

  it('zod 3: issues on one line with their paths', () => {
    const schema = z3.object({
      host: z3.string(),
      port: z3.number(),
      pool: z3.object({ max: z3.number() }),
    });
    const result = validate(schema, shape);
    expect(result.ok).toBe(false);
    const reason = !result.ok ? result.reason : '';
    expect(reason).toMatch(/^schema rejected it: /);
    expect(reason).toContain('port: Expected number, received string');
    expect(reason).toContain('pool: Required');
    expect(reason).not.toMatch(/[[\]{}]\s*"/); // no JSON dump
    expect(reason).not.toContain('\n');
  });

  it('zod 4: issues on one line, not the JSON array dump of its message', () => {
    const schema = z4.object({ host: z4.string(), port: z4.number(), tags: z4.array(z4.string()) });
    const result = validate(schema, { ...shape, tags: ['ok', 3] });
    expect(result.ok).toBe(false);
    const reason = !result.ok ? result.reason : '';
    expect(reason).toMatch(/^schema rejected it: port: .*number/i);
    expect(reason).toMatch(/tags\[1\]: /);
    expect(reason).not.toContain('"code"');
    // The thrown error's own message is the dump; describeSchemaError formats its issues.
    let thrown: unknown;
    try {
      schema.parse(shape);
    } catch (err) {
      thrown = err;
    }
    expect((thrown as Error).message).toContain('"code"');
    expect(describeSchemaError(thrown)).not.toContain('"code"');
  });

  it('valid values pass through and may be transformed (zod 3, zod 4)', () => {
    expect(validate(z3.object({ n: z3.coerce.number() }), { n: '5' })).toEqual({
      ok: true,
      value: { n: 5 },
    });
    expect(validate(z4.object({ n: z4.coerce.number() }), { n: '5' })).toEqual({
      ok: true,
      value: { n: 5 },
    });
  });

  it('any Standard Schema works, with path segments given as { key }', () => {
    const schema: StandardSchemaLike<number> = {
      '~standard': {
        version: 1,
        vendor: 'hand-made',
        validate: value =>
          typeof value === 'number'
            ? { value: value * 2 }
            : { issues: [{ message: 'must be a number', path: [{ key: 'limits' }, 0] }] },
      },
    };
    expect(validate(schema, 21)).toEqual({ ok: true, value: 42 });
    expect(validate(schema, 'x')).toEqual({
      ok: false,
      reason: 'schema rejected it: limits[0]: must be a number',
    });
  });

  it('an asynchronous Standard Schema is refused clearly', () => {
    const schema: StandardSchemaLike<number> = {
      '~standard': { version: 1, vendor: 'async', validate: () => Promise.resolve({ value: 1 }) },
    };
    const result = validate(schema, 1);
    expect(!result.ok && result.reason).toMatch(/asynchronous/);
  });

  it('any object with parse() works; its error message is kept on one line', () => {
    const schema = {
      parse(value: unknown): number {
        if (typeof value !== 'number') throw new Error('expected\n  a number');
        return value;
      },
    };
    expect(validate(schema, 3)).toEqual({ ok: true, value: 3 });
    expect(validate(schema, 'x')).toEqual({
      ok: false,
      reason: 'schema rejected it: expected a number',
    });
  });
});

function configEntry(key: string, text: string, value: unknown, rank = 0): ConfigEntry {
  const raw = bytes(text);
  const layer = { prefix: '/config/', source: '/config/', rank };
  return new ConfigEntry(
    `/config/${key}`,
    raw.buffer,
    raw.byteOffset,
    raw.length,
    1,
    1,
    1,
    '0',
    layer,
    value,
  );
}

function entry(key: string, value: unknown, rank = 0): ConfigEntry {
  return configEntry(key, JSON.stringify(value), value, rank);
}

describe('ConfigEntry: text decoded on demand from the bytes it shares with the informer', () => {
  const make = (key: string, text: string, value: unknown) => configEntry(key, text, value);

  it('gives back the exact text, whatever the value decoded to', () => {
    expect(make('plain', 'hello', 'hello').text).toBe('hello');
    expect(make('quoted', '"ab"', 'ab').text).toBe('"ab"');
    expect(make('number', '42', 42).text).toBe('42');
    expect(make('accents', 'héllo wörld', 'héllo wörld').text).toBe('héllo wörld');
    // Same length as the bytes but a YAML key: never taken for the text.
    expect(make('doc.yaml', "'ab'", 'ab').text).toBe("'ab'");
    expect(make('doc.yaml', 'abcd', 'abcd').text).toBe('abcd');
  });
});

describe('sameEffective for folders: told apart by their parts, not their text', () => {
  const folder = (...parts: ConfigEntry[]) => ({
    get text(): string {
      throw new Error('a folder comparison must not build the text');
    },
    parts,
    value: {},
    source: '/config/db/',
    revision: 1,
  });
  it('same entries (or same keys with the same bytes) are the same; any other difference is not', () => {
    const a = entry('db/a', 1);
    const b = entry('db/b', 2);
    expect(sameEffective(folder(a, b), folder(a, b))).toBe(true);
    expect(sameEffective(folder(a, b), folder(a, entry('db/b', 2)))).toBe(true);
    expect(sameEffective(folder(a, b), folder(a, entry('db/b', 3)))).toBe(false);
    expect(sameEffective(folder(a, b), folder(a))).toBe(false);
    expect(sameEffective(folder(a, b), folder(a, entry('db/c', 2)))).toBe(false);
  });
});

describe('folder assembly', () => {
  it('nests keys below the folder by path', () => {
    const entries = [entry('db/host', 'h'), entry('db/pool/max', 10), entry('db/pool/min', 1)];
    expect(assembleFolder('db/', entries)).toEqual({ host: 'h', pool: { max: 10, min: 1 } });
  });

  it('a deeper key wins over a leaf of the same name, and decoded values are never mutated', () => {
    const leaf = { min: 1 };
    const entries = [entry('db/pool', leaf), entry('db/pool/max', 10)];
    expect(assembleFolder('db/', entries)).toEqual({ pool: { max: 10 } });
    expect(leaf).toEqual({ min: 1 });
  });
});

describe('FolderValue: the next value of a folder made in place from a batch of puts', () => {
  const FOLDER = 'db/';
  const sorted = (entries: ConfigEntry[]) =>
    [...entries].sort((a, b) => (a.configKey < b.configKey ? -1 : 1));
  const of = (entries: ConfigEntry[]) => FolderValue.of(FOLDER, sorted(entries), '/config/db/')!;
  /** The entry of `key` at `revision`, holding `value` (default: the revision). */
  const at = (key: string, revision: number, value: unknown = revision): ConfigEntry => {
    const raw = bytes(JSON.stringify(value));
    const layer = { prefix: '/config/', source: '/config/', rank: 0 };
    return new ConfigEntry(
      `/config/${key}`,
      raw.buffer,
      raw.byteOffset,
      raw.length,
      revision,
      1,
      1,
      '0',
      layer,
      value,
    );
  };

  it('equals a full assembly after random puts, shares the branches no put touched, and never changes the value before', () => {
    const random = seededRandom(7);
    const keys = [
      'db/host',
      'db/pool/max',
      'db/pool/min',
      'db/a/b/c',
      'db/a/b/d',
      'db/a/e',
      'db/__proto__',
      'db/x/__proto__/y',
    ];
    let revision = 1;
    let current = keys.map(key => at(key, revision++));
    let value = of(current);
    for (let round = 0; round < 200; round++) {
      const before = JSON.stringify(value.value);
      const puts = keys.filter(() => random() < 0.3).map(key => at(key, revision++));
      const next = value.withPuts(puts)!;
      expect(next).toBeDefined();
      current = current.map(held => puts.find(put => put.key === held.key) ?? held);
      const full = of(current);
      expect(next.value).toEqual(full.value);
      expect(JSON.stringify(next.value)).toBe(JSON.stringify(full.value));
      expect(next.parts).toEqual(full.parts);
      expect(next.revision).toBe(full.revision);
      expect(next.text).toBe(full.text);
      expect(Object.getPrototypeOf(next.value)).toBe(Object.prototype);
      expect(JSON.stringify(value.value)).toBe(before);
      if (!puts.some(put => put.configKey.startsWith('db/pool/'))) {
        expect(next.value.pool).toBe(value.value.pool);
      }
      value = next;
    }
  });

  it('needs a full assembly for a key it does not hold, or when a deeper key wins over a leaf', () => {
    const value = of([at('db/host', 1, 'h')]);
    expect(value.withPuts([at('db/port', 2)])).toBeUndefined();
    const shadowed = of([at('db/pool', 1, { min: 1 }), at('db/pool/max', 2)]);
    expect(shadowed.value).toEqual({ pool: { max: 2 } });
    expect(shadowed.withPuts([at('db/pool/max', 3)])).toBeUndefined();
  });
});

describe('ConfigStore', () => {
  let warnings: string[] = [];
  const logger = { warn: (line: string) => warnings.push(line) } as unknown as Logger;
  beforeEach(() => {
    warnings = [];
  });

  /**
   * A store over fake informer maps (one per source, synced at revision 0): `apply` does what the
   * informer does with a watch event (transform, update its map, report the change).
   */
  function makeStore(
    profiles: string[] = [],
    shared: string[] = [],
    options: ConfigStoreOptions = {},
  ) {
    const batches: StoreChange[][] = [];
    const sources = [...shared, '/config/'];
    const store = new ConfigStore(
      sources,
      profiles,
      logger,
      changes => batches.push(changes),
      undefined,
      options,
    );
    current = store;
    const maps = new Map<string, Map<string, InformerEntry>>();
    for (const source of sources) {
      const held = new Map<string, InformerEntry>();
      maps.set(source, held);
      store.synced(
        source,
        { get: key => held.get(key), current: () => ({ entries: held.values() }) },
        0,
      );
    }
    const apply = (key: string, source: string, raw: Buffer | undefined, revision: number) => {
      const held = maps.get(source)!;
      const previous = held.get(key);
      if (raw === undefined) {
        if (!previous) return;
        held.delete(key);
        store.changed({ type: 'delete', key, previous, revision, resync: false });
        return;
      }
      const put = {
        key,
        value: raw,
        modRevision: revision,
        createRevision: revision,
        version: 1,
        lease: '0',
      };
      const entry = store.transformFor(source)(put, previous);
      held.set(key, entry);
      store.changed({ type: 'put', key, entry, previous, revision, resync: false });
    };
    return { store, batches, apply };
  }
  let current: ConfigStore | undefined;
  /** What the informer does at the end of a watch response: the store reports its last batch. */
  const settle = () => Promise.resolve(current?.flush());

  it('reports one batch per revision (a transaction of three keys is one batch)', async () => {
    const { batches, apply } = makeStore();
    apply('/config/db/a', '/config/', bytes('1'), 5);
    apply('/config/db/b', '/config/', bytes('2'), 5);
    apply('/config/db/c', '/config/', bytes('3'), 5);
    apply('/config/other', '/config/', bytes('x'), 6);
    await settle();
    expect(batches.map(batch => batch.map(change => `${change.key}@${change.revision}`))).toEqual([
      ['db/a@5', 'db/b@5', 'db/c@5'],
      ['other@6'],
    ]);
  });

  it('decodes once by format; an invalid document keeps the last good entry with one warning', async () => {
    const { store, apply } = makeStore();
    apply('/config/db.yaml', '/config/', bytes('port: 1'), 2);
    const first = store.effective('db.yaml');
    expect(first?.decoded).toEqual({ port: 1 });
    apply('/config/db.yaml', '/config/', bytes('port: [1'), 3);
    expect(store.effective('db.yaml')).toBe(first);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /db\.yaml.*revision 3 rejected: invalid YAML.*keeping the value of revision 2/,
    );
    await settle();
  });

  it('layers: shared below own below active profiles; inactive profiles are ignored', async () => {
    const { store, batches, apply } = makeStore(['canary'], ['/shared/']);
    apply('/shared/greeting', '/shared/', bytes('shared'), 1);
    expect(store.effective('greeting')?.text).toBe('shared');
    apply('/config/greeting', '/config/', bytes('own'), 2);
    expect(store.effective('greeting')?.text).toBe('own');
    apply('/config/@beta/greeting', '/config/', bytes('beta'), 3);
    expect(store.effective('greeting')?.text).toBe('own');
    apply('/config/@canary/greeting', '/config/', bytes('canary'), 4);
    expect(store.effective('greeting')?.key).toBe('/config/@canary/greeting');
    await settle();
    apply('/config/@canary/greeting', '/config/', undefined, 5);
    await settle();
    expect(store.effective('greeting')?.text).toBe('own');
    expect(store.effectiveEntries().map(e => e.configKey)).toEqual(['greeting']);
    const last = batches[batches.length - 1]!;
    expect(last).toHaveLength(1);
    expect(last[0]!.previous?.text).toBe('canary');
    expect(last[0]!.next?.text).toBe('own');
  });

  it("a folder's entries decode the keys below it, none outside it", async () => {
    const { store, apply } = makeStore([], [], { isRead: key => key.startsWith('db/') });
    apply('/config/db/host', '/config/', bytes('h'), 2);
    apply('/config/db/port', '/config/', bytes('5432'), 3);
    // Keys nothing reads: an invalid document (decoding it would warn) and a plain one.
    apply('/config/other.yaml', '/config/', bytes('a: [1'), 4);
    apply('/config/plain', '/config/', bytes('x'), 5);
    await settle();
    expect(store.effectiveEntries('db/').map(e => `${e.configKey}=${String(e.decoded)}`)).toEqual([
      'db/host=h',
      'db/port=5432',
    ]);
    expect(warnings).toEqual([]);
    const outside = [...store.held()].filter(e => !e.configKey.startsWith('db/'));
    expect(outside.map(e => [e.configKey, e.isKnown])).toEqual([
      ['other.yaml', false],
      ['plain', false],
    ]);
  });

  it('a rejected revision is reported once; the same bytes again are not reported again', async () => {
    const { store, apply } = makeStore();
    apply('/config/n.json', '/config/', bytes('1'), 2);
    apply('/config/n.json', '/config/', bytes('{bad'), 3);
    apply('/config/n.json', '/config/', bytes('{bad'), 4);
    expect(warnings).toHaveLength(1);
    expect(store.effective('n.json')?.decoded).toBe(1);
    expect(store.effective('n.json')?.modRevision).toBe(2);
    apply('/config/n.json', '/config/', bytes('5'), 5);
    expect(store.effective('n.json')?.decoded).toBe(5);
    apply('/config/n.json', '/config/', undefined, 6);
    expect(store.effective('n.json')).toBeUndefined();
    await settle();
  });

  it('serves a seeded snapshot until the first list, then reports the difference as one batch', async () => {
    const batches: StoreChange[][] = [];
    const store = new ConfigStore(['/config/'], [], logger, changes => batches.push(changes));
    store.seed('/config/', { same: 'kept', gone: 'old', changed: 'before' }, 7);
    expect(store.effective('gone')?.text).toBe('old');
    expect(store.effectiveEntries().map(e => e.configKey)).toEqual(['changed', 'gone', 'same']);
    const decode = store.transformFor('/config/');
    const listed = new Map<string, InformerEntry>();
    for (const [key, text, revision] of [
      ['same', 'kept', 3],
      ['changed', 'after', 9],
      ['added', 'new', 10],
      ['broken.json', '{', 10],
    ] as const) {
      const value = bytes(text);
      const at = `/config/${key}`;
      listed.set(
        at,
        decode(
          { key: at, value, modRevision: revision, createRevision: 1, version: 1, lease: '0' },
          undefined,
        ),
      );
    }
    store.synced(
      '/config/',
      { get: k => listed.get(k), current: () => ({ entries: listed.values() }) },
      12,
    );
    expect(batches).toHaveLength(1);
    expect(
      batches[0]!.map(c => [c.key, c.previous?.text, c.next?.text, c.revision]).sort(),
    ).toEqual([
      ['added', undefined, 'new', 12],
      ['changed', 'before', 'after', 12],
      ['gone', 'old', undefined, 12],
    ]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/"broken\.json".*rejected.*the key stays unset/);
    expect(store.effective('gone')).toBeUndefined();
    expect(store.effective('same')?.modRevision).toBe(3);
  });

  describe('entries as the transform makes them', () => {
    afterEach(() => {
      jest.restoreAllMocks();
    });

    /** The informer's entry of `key` holding `text` at `revision`. */
    const put = (key: string, text: string, revision: number): InformerEntry => ({
      key,
      value: bytes(text),
      modRevision: revision,
      createRevision: 1,
      version: revision,
      lease: '0',
    });
    /** The entry the transform of `/config/` makes of `put`, after `previous`. */
    const decodeAs = (store: ConfigStore) => {
      const transform = store.transformFor('/config/');
      return (entry: InformerEntry, previous?: ConfigEntry): ConfigEntry => {
        const made = transform(entry, previous);
        if (!(made instanceof ConfigEntry)) throw new Error(`no config entry for ${entry.key}`);
        return made;
      };
    };

    it("YAML's .nan put again with the same bytes is the same value (NaN is one value), and reports no change", async () => {
      const { store, batches, apply } = makeStore();
      const decode = decodeAs(store);
      const first = decode(put('/config/n.yaml', '.nan', 2));
      const again = decode(put('/config/n.yaml', '.nan', 3), first);
      expect(Number.isNaN(first.decoded)).toBe(true);
      expect(first.sameBytesAs(again)).toBe(true);
      apply('/config/n.yaml', '/config/', bytes('.nan'), 2);
      await settle();
      apply('/config/n.yaml', '/config/', bytes('.nan'), 3);
      await settle();
      expect(batches).toHaveLength(1);
    });

    it('sameBytesAs: two different scalars are different without reading the bytes', () => {
      const decode = decodeAs(makeStore().store);
      const twelve = decode(put('/config/n', '12', 2));
      const thirteen = decode(put('/config/n', '13', 3), twelve);
      expect([twelve.decoded, thirteen.decoded]).toEqual([12, 13]);
      const read = jest.spyOn(ConfigEntry.prototype, 'value', 'get');
      expect(twelve.sameBytesAs(thirteen)).toBe(false);
      expect(thirteen.sameBytesAs(twelve)).toBe(false);
      expect(read).not.toHaveBeenCalled();
    });

    it('sameBytesAs: the same scalar is compared by its bytes (same bytes, or another spelling)', () => {
      const decode = decodeAs(makeStore().store);
      const one = decode(put('/config/n', '1.0', 2));
      const same = decode(put('/config/n', '1.0', 3), one);
      const spelled = decode(put('/config/n', '1e0', 4), same);
      expect([one.decoded, same.decoded, spelled.decoded]).toEqual([1, 1, 1]);
      expect(one.sameBytesAs(same)).toBe(true);
      expect(same.sameBytesAs(one)).toBe(true);
      expect(one.sameBytesAs(one)).toBe(true);
      // one decoded value, two byte strings of one length: told apart by reading them
      expect(one.sameBytesAs(spelled)).toBe(false);
      expect(spelled.sameBytesAs(one)).toBe(false);
    });

    it('sameBytesAs: JSON objects are compared byte for byte (equal lengths)', () => {
      const decode = decodeAs(makeStore().store);
      const a = decode(put('/config/db.json', '{"port":1}', 2));
      const sameText = decode(put('/config/db.json', '{"port":1}', 3)); // decoded anew
      const other = decode(put('/config/db.json', '{"port":2}', 4), sameText);
      const longer = decode(put('/config/db.json', '{"port":10}', 5), other);
      expect(sameText.decoded).not.toBe(a.decoded);
      expect(a.sameBytesAs(sameText)).toBe(true);
      expect(a.sameBytesAs(other)).toBe(false);
      expect(other.sameBytesAs(a)).toBe(false);
      expect(other.sameBytesAs(longer)).toBe(false);
    });

    it('sameBytesAs: a rejected revision is never the same as a good one', () => {
      const decode = decodeAs(makeStore().store);
      const good = decode(put('/config/n.json', '1234', 2));
      const rejected = decode(put('/config/n.json', '{bad', 3), good);
      expect(rejected.decoded).toBeInstanceOf(RejectedRevision);
      expect(rejected.accepted).toBe(good);
      expect(good.sameBytesAs(rejected)).toBe(false);
      expect(rejected.sameBytesAs(good)).toBe(false);
      const again = decode(put('/config/n.json', '{bad', 4), rejected);
      expect(again.decoded).toBe(rejected.decoded); // not a second rejection
      expect(again.sameBytesAs(rejected)).toBe(true);
    });

    it('transformFor: a re-listed key whose revision did not move is the entry held', () => {
      const decode = decodeAs(makeStore().store);
      const held = decode(put('/config/db.json', '{"port":1}', 2));
      expect(decode(put('/config/db.json', '{"port":1}', 2), held)).toBe(held);
      // a revision that moved is a new entry, even for the same bytes
      const moved = decode(put('/config/db.json', '{"port":1}', 3), held);
      expect(moved).not.toBe(held);
      expect(moved.modRevision).toBe(3);
    });

    it('transformFor: the same bytes again keep the decoded object; new bytes decode anew', () => {
      const decode = decodeAs(makeStore().store);
      const first = decode(put('/config/db.json', '{"port":1}', 2));
      expect(first.decoded).toEqual({ port: 1 }); // read, so decoded
      const same = decode(put('/config/db.json', '{"port":1}', 3), first);
      expect(same.decoded).toBe(first.decoded);
      const changed = decode(put('/config/db.json', '{"port":2}', 4), same);
      expect(changed.decoded).toEqual({ port: 2 });
      expect(changed.decoded).not.toBe(first.decoded);
      // without the held entry, the same bytes are decoded anew
      const fresh = decode(put('/config/db.json', '{"port":1}', 5));
      expect(fresh.decoded).toEqual(first.decoded);
      expect(fresh.decoded).not.toBe(first.decoded);
      // a new scalar is a new value
      const n = decode(put('/config/n', '12', 2));
      expect(decode(put('/config/n', '13', 3), n).decoded).toBe(13);
    });
  });

  it('a change hidden by a higher layer reports nothing', async () => {
    const { batches, apply } = makeStore(['canary']);
    apply('/config/@canary/greeting', '/config/', bytes('canary'), 1);
    await settle();
    const before = batches.length;
    apply('/config/greeting', '/config/', bytes('base'), 2);
    await settle();
    expect(batches.length).toBe(before);
  });
});

describe('defineConfig types (checked by tsc; the assertions check the runtime shape)', () => {
  it('takes the type from zod 3, zod 4, a Standard Schema, parse, or default', () => {
    const fromZod3 = defineConfig('a', { schema: z3.object({ n: z3.number() }) });
    const fromZod4 = defineConfig('b.yaml', { schema: z4.object({ s: z4.string() }) });
    const standard: StandardSchemaLike<{ flag: boolean }> = {
      '~standard': { version: 1, vendor: 'test', validate: value => ({ value }) },
    };
    const fromStandard = defineConfig('c', { schema: standard });
    const fromParse = defineConfig('d', { parse: raw => raw.split(',') });
    const fromDefault = defineConfig('e', { default: 3 });

    const n: ConfigTypeOf<typeof fromZod3> = { n: 1 };
    const s: ConfigTypeOf<typeof fromZod4> = { s: 'x' };
    const flag: ConfigTypeOf<typeof fromStandard> = { flag: true };
    const list: ConfigTypeOf<typeof fromParse> = ['a'];
    const three: ConfigTypeOf<typeof fromDefault> = 3;
    // @ts-expect-error the zod 3 schema says n is a number
    const wrong: ConfigTypeOf<typeof fromZod3> = { n: 'one' };
    const value: ConfigValueOf<typeof fromZod4> | undefined = undefined;

    expect([n, s, flag, list, three, wrong, value]).toHaveLength(7);
    expect(fromZod4).toEqual({ key: 'b.yaml', options: { schema: expect.anything() as unknown } });
    expect([fromZod3.key, fromStandard.key, fromDefault.options.default]).toEqual(['a', 'c', 3]);
    expect(Object.isFrozen(fromParse)).toBe(true);
    expect(() => defineConfig('', {})).toThrow(TypeError);
  });
});
