import { z } from 'zod';
import { newestValid, type BootView } from '../../lib/config/config-boot.js';
import { decodeByFormat, formatOf } from '../../lib/config/config-codec.js';
import type { ConfigRevision } from '../../lib/config/config-value.interface.js';
import type { EffectiveValue } from '../../lib/config/effective-value.js';

/** newestValid() on a fake view of the config center: which revision a key refused at boot gets. */
describe('boot with the newest valid value: newestValid()', () => {
  const options = { schema: z.object({ n: z.number() }) };
  const value = (text: string, revision: number): EffectiveValue => {
    const decoded = decodeByFormat(text, 'json');
    return {
      text,
      value: decoded.ok ? decoded.value : text,
      source: '/config/n.json',
      revision,
    };
  };
  const put = (raw: string, revision: number): Omit<ConfigRevision, 'valid'> => ({
    raw,
    revision,
    value: undefined,
    version: 1,
    deleted: false,
  });
  const del = (revision: number): Omit<ConfigRevision, 'valid'> => ({
    raw: undefined,
    revision,
    value: undefined,
    version: 0,
    deleted: true,
  });

  function view(
    current: EffectiveValue | undefined,
    history: Array<Omit<ConfigRevision, 'valid'>>,
    snapshot?: Record<string, string>,
  ): BootView {
    return {
      prefix: '/config/',
      effective: () => current,
      refusal: () => undefined,
      decode: (key, text) => decodeByFormat(text, formatOf(key)),
      history: async (_key, _limit, check) =>
        history.map(entry => {
          if (entry.deleted || entry.raw === undefined) return { ...entry, valid: true };
          const checked = check(entry.raw);
          return { ...entry, valid: checked.ok };
        }),
      snapshot: () =>
        snapshot && {
          format: 'nest-etcd-config-snapshot',
          version: 1,
          source: '/config/',
          revision: 3,
          savedAt: '',
          values: snapshot,
        },
    };
  }

  it('a value the schema accepts: nothing to repair', async () => {
    expect(await newestValid(view(value('{"n":1}', 5), []), 'n.json', options)).toBeUndefined();
  });

  it('refused now: the newest accepted revision of the history, named with the refused one', async () => {
    const repair = await newestValid(
      view(value('{"n":"x"}', 9), [
        put('{"n":"x"}', 9),
        put('{"n":"y"}', 8),
        put('{"n":7}', 6),
        put('{"n":6}', 4),
      ]),
      'n.json',
      options,
    );
    expect(repair?.from).toBe('history');
    expect(repair?.served).toMatchObject({ revision: 6, text: '{"n":7}', value: { n: 7 } });
    expect(repair?.bad).toMatchObject({ revision: 9, source: '/config/n.json' });
    expect(repair?.bad.reason).toMatch(/^schema rejected it: n: /);
  });

  it('never across a delete: the snapshot file when it is accepted, else nothing (the default)', async () => {
    const history = [put('{"n":"x"}', 9), del(8), put('{"n":7}', 6)];
    expect(
      await newestValid(view(value('{"n":"x"}', 9), history), 'n.json', options),
    ).toBeUndefined();
    const repair = await newestValid(
      view(value('{"n":"x"}', 9), history, { 'n.json': '{"n":2}' }),
      'n.json',
      options,
    );
    expect(repair?.from).toBe('snapshot');
    expect(repair?.served).toMatchObject({ revision: 3, value: { n: 2 } });
    expect(
      await newestValid(
        view(value('{"n":"x"}', 9), history, { 'n.json': '{"n":"no"}' }),
        'n.json',
        options,
      ),
    ).toBeUndefined();
  });
});
