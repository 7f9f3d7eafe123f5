import { jest } from '@jest/globals';
import type { Logger } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { z } from 'zod';
import { ConfigEntry, ConfigStore } from '../../lib/config/config-store.js';
import { EntryValue, type EffectiveValue } from '../../lib/config/effective-value.js';
import type {
  ConfigChange,
  ConfigRejection,
  ConfigValueOptions,
} from '../../lib/config/config-value.interface.js';
import { LiveConfigValue, type AcceptedChange } from '../../lib/config/live-config-value.js';

/**
 * The object `@InjectConfig` injects, on its own: how it multicasts (no BehaviorSubject), what it
 * accepts, and when it trusts the store's "the bytes differ". Entries are made as the informer makes
 * them, through the store's transform.
 */
describe('LiveConfigValue', () => {
  let warnings: string[];
  let rejections: ConfigRejection[];
  const logger = { warn: (line: string) => warnings.push(line) } as unknown as Logger;
  const store = new ConfigStore(['/config/'], [], logger, () => undefined);
  const decode = store.transformFor('/config/');

  beforeEach(() => {
    warnings = [];
    rejections = [];
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  /** The entry of `/config/<key>` holding `text` at `revision` (after `previous`, if any). */
  const entryOf = (key: string, text: string, revision: number, previous?: ConfigEntry) => {
    const entry = decode(
      {
        key: `/config/${key}`,
        value: Buffer.from(text),
        modRevision: revision,
        createRevision: 1,
        version: 1,
        lease: '0',
      },
      previous,
    );
    if (!(entry instanceof ConfigEntry)) throw new Error(`no config entry for ${key}`);
    return entry;
  };
  const valueOf = (key: string, text: string, revision: number, previous?: ConfigEntry) =>
    new EntryValue(entryOf(key, text, revision, previous));

  const make = <T>(options: ConfigValueOptions<T> = {}) =>
    new LiveConfigValue<T>('n', options, logger, rejection => rejections.push(rejection));

  const changeAt = (revision: number, value: unknown): ConfigChange => ({
    key: 'n',
    value,
    previousValue: undefined,
    type: 'put',
    revision,
    source: '/config/n',
  });

  describe('multicast', () => {
    it('a subscriber gets the current value at once, then each accepted change', () => {
      const value = make<number>({ default: 1 });
      const seen: number[] = [];
      const subscription = value.subscribe(v => seen.push(v));
      expect(seen).toEqual([1]);
      value.apply(valueOf('n', '2', 2));
      value.apply(valueOf('n', '3', 3));
      expect(seen).toEqual([1, 2, 3]);
      subscription.unsubscribe();
      value.apply(valueOf('n', '4', 4));
      expect(seen).toEqual([1, 2, 3]);
      expect(value.value).toBe(4);
    });

    it('a late subscriber starts at the current value, not the default', () => {
      const value = make<number>({ default: 1 });
      value.apply(valueOf('n', '7', 2));
      const seen: number[] = [];
      value.subscribe(v => seen.push(v)).unsubscribe();
      expect(seen).toEqual([7]);
    });

    it('several subscribers all get each change, in subscription order', () => {
      const value = make<number>({ default: 0 });
      const seen: string[] = [];
      for (const name of ['a', 'b', 'c']) value.subscribe(v => seen.push(`${name}${v}`));
      expect(seen).toEqual(['a0', 'b0', 'c0']);
      seen.length = 0;
      value.apply(valueOf('n', '1', 2));
      value.apply(valueOf('n', '2', 3));
      expect(seen).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'c2']);
    });

    it('unsubscribing during an emission: the others still get it; whoever left hears nothing more', () => {
      const value = make<number>({ default: 0 });
      const seen: string[] = [];
      const subscriptions: Record<string, Subscription> = {};
      subscriptions.a = value.subscribe(v => {
        seen.push(`a${v}`);
        if (v === 1) {
          subscriptions.a!.unsubscribe(); // itself
          subscriptions.b!.unsubscribe(); // one not yet called in this emission
        }
      });
      subscriptions.b = value.subscribe(v => seen.push(`b${v}`));
      subscriptions.c = value.subscribe(v => seen.push(`c${v}`));
      seen.length = 0;
      value.apply(valueOf('n', '1', 2));
      expect(seen).toEqual(['a1', 'c1']);
      seen.length = 0;
      value.apply(valueOf('n', '2', 3));
      expect(seen).toEqual(['c2']);
    });

    it('subscribing during an emission: the newcomer gets the new value once, the others are all told', () => {
      const value = make<number>({ default: 0 });
      const seen: string[] = [];
      value.subscribe(v => {
        seen.push(`a${v}`);
        if (v === 1) value.subscribe(w => seen.push(`new${w}`));
      });
      value.subscribe(v => seen.push(`b${v}`));
      seen.length = 0;
      value.apply(valueOf('n', '1', 2));
      // The emission in progress keeps its list: the newcomer got the value as its current one.
      expect(seen).toEqual(['a1', 'new1', 'b1']);
      seen.length = 0;
      value.apply(valueOf('n', '2', 3));
      expect(seen).toEqual(['a2', 'b2', 'new2']);
    });

    it('complete() completes every subscriber and accepted$; a later subscriber is completed at once', () => {
      const value = make<number>({ default: 0 });
      const events: string[] = [];
      for (const name of ['a', 'b']) {
        value.subscribe({
          next: v => events.push(`${name}${v}`),
          complete: () => events.push(`${name} done`),
        });
      }
      value.accepted$.subscribe({ complete: () => events.push('accepted$ done') });
      value.complete();
      expect(events).toEqual(['a0', 'b0', 'a done', 'b done', 'accepted$ done']);
      events.length = 0;
      const late = value.subscribe({
        next: v => events.push(`late${v}`),
        complete: () => events.push('late done'),
      });
      expect(events).toEqual(['late done']);
      expect(late.closed).toBe(true);
      value.apply(valueOf('n', '5', 9));
      expect(events).toEqual(['late done']); // nothing after completion
    });
  });

  describe('accepting values', () => {
    it('value is the last accepted value; a missing key falls back to the default', () => {
      const value = make<number>({ default: 1 });
      expect(value.value).toBe(1);
      value.apply(valueOf('n', '2', 2));
      expect(value.value).toBe(2);
      expect(value.accepted?.revision).toBe(2);
      value.apply(undefined);
      expect(value.value).toBe(1);
      expect(value.accepted).toBeUndefined();
    });

    it('a value the schema rejects keeps the last good one, does not emit, and is reported', () => {
      const value = make({ schema: z.number().int().positive(), default: 1 });
      const seen: number[] = [];
      value.subscribe(v => seen.push(v));
      value.apply(valueOf('n', '2', 2));
      const bad = valueOf('n', '-3', 3);
      value.apply(bad);
      expect(value.value).toBe(2);
      expect(seen).toEqual([1, 2]);
      expect(value.rejected).toBe(bad);
      expect(value.accepted?.revision).toBe(2);
      expect(rejections).toEqual([{ key: 'n', revision: 3, reason: expect.any(String) as string }]);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(
        /config "n" at revision 3 rejected: .*keeping the last good value/,
      );
      // a good value again clears the rejection
      value.apply(valueOf('n', '4', 4));
      expect(value.rejected).toBeUndefined();
      expect(seen).toEqual([1, 2, 4]);
    });

    it('a value parse throws on keeps the last good one and does not emit', () => {
      const value = make<string[]>({
        parse: raw => {
          if (raw.includes(';')) throw new Error('no semicolons');
          return raw.split(',');
        },
      });
      const seen: string[][] = [];
      value.subscribe(v => seen.push(v));
      value.apply(valueOf('n', 'a,b', 2));
      value.apply(valueOf('n', 'a;b', 3));
      expect(value.value).toEqual(['a', 'b']);
      expect(seen).toEqual([undefined, ['a', 'b']]);
      expect(rejections.map(r => [r.revision, r.reason])).toEqual([
        [3, 'parse failed: no semicolons'],
      ]);
    });

    it('hasChangeListeners is true only while accepted$ has a subscriber', () => {
      const value = make<number>({ default: 0 });
      expect(value.hasChangeListeners).toBe(false);
      const plain = value.subscribe(() => undefined);
      expect(value.hasChangeListeners).toBe(false); // the value's own subscribers do not count
      const first = value.accepted$.subscribe(() => undefined);
      const second = value.accepted$.subscribe(() => undefined);
      expect(value.hasChangeListeners).toBe(true);
      first.unsubscribe();
      expect(value.hasChangeListeners).toBe(true);
      second.unsubscribe();
      expect(value.hasChangeListeners).toBe(false);
      plain.unsubscribe();
    });

    it('accepted$ gets each accepted change with its ConfigChange, never a rejected one', () => {
      const value = make({ schema: z.number().positive(), default: 1 });
      const accepted: Array<AcceptedChange<number>> = [];
      value.accepted$.subscribe(a => accepted.push(a));
      value.apply(valueOf('n', '2', 2), changeAt(2, 2));
      value.apply(valueOf('n', '-1', 3), changeAt(3, -1));
      const missing: EffectiveValue | undefined = undefined; // the key was deleted
      value.apply(missing, { ...changeAt(4, undefined), type: 'delete' });
      expect(accepted.map(a => [a.value, a.change.revision, a.change.type])).toEqual([
        [2, 2, 'put'],
        [1, 4, 'delete'],
      ]);
    });
  });

  describe('apply(effective, change, changedFrom): when the byte comparison is skipped', () => {
    it('skips it only when changedFrom is the entry currently accepted', () => {
      const value = make<{ n: number }>();
      const seen: Array<{ n: number }> = [];
      value.subscribe(v => seen.push(v));
      const first = entryOf('n.json', '{"n":1}', 2);
      value.apply(new EntryValue(first));
      expect(seen).toEqual([undefined, { n: 1 }]);
      const compare = jest.spyOn(ConfigEntry.prototype, 'sameBytesAs');

      // The same bytes at a new revision, with no word from the store: compared, nothing emitted.
      const again = entryOf('n.json', '{"n":1}', 3, first);
      value.apply(new EntryValue(again));
      expect(compare).toHaveBeenCalledTimes(1);
      expect(seen).toHaveLength(2);

      // changedFrom is some other entry (not the one accepted): still compared.
      const other = entryOf('n.json', '{"n":1}', 4, again);
      value.apply(new EntryValue(other), undefined, again);
      expect(compare).toHaveBeenCalledTimes(2);
      expect(seen).toHaveLength(2);
      expect(value.accepted?.entry).toBe(first);

      // changedFrom is the accepted entry: the store's "the bytes differ" is trusted, no compare.
      const changed = entryOf('n.json', '{"n":5}', 5, other);
      value.apply(new EntryValue(changed), undefined, first);
      expect(compare).toHaveBeenCalledTimes(2);
      expect(seen).toEqual([undefined, { n: 1 }, { n: 5 }]);
      expect(value.accepted?.entry).toBe(changed);
    });

    it('without changedFrom, different bytes of the same length are told apart', () => {
      const value = make<{ n: number }>();
      const seen: Array<{ n: number }> = [];
      value.subscribe(v => seen.push(v));
      const first = entryOf('n.json', '{"n":1}', 2);
      value.apply(new EntryValue(first));
      value.apply(new EntryValue(entryOf('n.json', '{"n":2}', 3, first)));
      expect(seen).toEqual([undefined, { n: 1 }, { n: 2 }]);
    });
  });
});
