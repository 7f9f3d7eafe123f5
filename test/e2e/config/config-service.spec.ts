import 'reflect-metadata';
import { Etcd3 } from 'etcd3';
import { Injectable, type INestApplication } from '@nestjs/common';
import {
  ConfigKeyNotFoundError,
  EtcdConfigService,
  EtcdModule,
  InjectConfig,
  type ConfigChange,
  type ConfigValue,
  type EtcdModuleOptions,
} from '../../../lib/index.js';
import { nextValue, waitFor } from '../../support/index.js';
import { bootApp, useConfigSuite } from '../../support/config-test-kit.js';
import { LogCapture } from '../../support/log-capture.js';
import { TEST_RETRY } from '../../support/nest-apps.js';
import { limitsSchema } from '../../fixtures/config/config-schemas.js';

@Injectable()
class LimitsHolder {
  constructor(
    @InjectConfig('limits', { default: { max: 1, burst: 0 }, schema: limitsSchema })
    readonly limits: ConfigValue<{ max: number; burst: number }>,
  ) {}
}

describe('EtcdConfigService against real etcd', () => {
  const suite = useConfigSuite();
  const { apps, subscriptions } = suite;

  async function boot(options: EtcdModuleOptions = {}): Promise<INestApplication> {
    return apps.track(
      await bootApp({
        imports: [
          EtcdModule.forRoot({ hosts: suite.etcd.endpoint, retry: TEST_RETRY, ...options }),
        ],
      }),
    );
  }

  it('reads keys relative to the default /config/ prefix; get, getOrThrow, getAll', async () => {
    await suite.etcd.put('/config/greeting', 'hi');
    await suite.etcd.put('/config/db/pool', '5');
    await suite.etcd.put('/other/greeting', 'not mine');
    const app = await boot();
    const config = app.get(EtcdConfigService);

    expect(config.prefix).toBe('/config/');
    expect(config.get('greeting')).toBe('hi');
    expect(config.get<number>('db/pool')).toBe(5);
    expect(config.get('missing')).toBeUndefined();
    expect(config.get('missing', 'fallback')).toBe('fallback');
    expect(config.get('greeting', 'fallback')).toBe('hi');
    expect(config.getOrThrow('greeting')).toBe('hi');
    expect(config.getAll()).toEqual({ 'db/pool': 5, greeting: 'hi' });

    let thrown: unknown;
    try {
      config.getOrThrow('nope');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigKeyNotFoundError);
    expect((thrown as ConfigKeyNotFoundError).key).toBe('nope');
    expect((thrown as ConfigKeyNotFoundError).prefix).toBe('/config/');
    expect((thrown as Error).message).toContain('"nope"');
    expect((thrown as Error).message).toContain('/config/nope');

    // getAll() hands out a copy: mutating it changes nothing.
    const all = config.getAll();
    all.greeting = 'mutated';
    expect(config.get('greeting')).toBe('hi');
  });

  it('decodes JSON objects, numbers, booleans, null and plain strings', async () => {
    const prefix = '/types/';
    await suite.etcd.put(`${prefix}object`, '{"a":1,"list":[true,"x"]}');
    await suite.etcd.put(`${prefix}number`, '42.5');
    await suite.etcd.put(`${prefix}negative`, '-7');
    await suite.etcd.put(`${prefix}yes`, 'true');
    await suite.etcd.put(`${prefix}no`, 'false');
    await suite.etcd.put(`${prefix}nothing`, 'null');
    await suite.etcd.put(`${prefix}quoted`, '"a JSON string"');
    await suite.etcd.put(`${prefix}plain`, 'just words');
    await suite.etcd.put(`${prefix}almost`, '{not json');
    await suite.etcd.put(`${prefix}version`, '1.2.3');
    await suite.etcd.etcdctl(['put', '--', `${prefix}empty`, '']);
    const app = await boot({ config: { prefix } });
    const config = app.get(EtcdConfigService);

    expect(config.getAll()).toEqual({
      object: { a: 1, list: [true, 'x'] },
      number: 42.5,
      negative: -7,
      yes: true,
      no: false,
      nothing: null,
      quoted: 'a JSON string',
      plain: 'just words',
      almost: '{not json',
      version: '1.2.3',
      empty: '',
    });
    expect(typeof config.get('number')).toBe('number');
    expect(config.get('yes')).toBe(true);

    // A live update changes the type too.
    const changed = nextValue(config.watch('number'), v => v === 'forty-two');
    await suite.etcd.put(`${prefix}number`, 'forty-two');
    await changed;
    expect(config.get('number')).toBe('forty-two');
  });

  it('watch(key): current value first, then each change, no repeats; delete -> undefined', async () => {
    const prefix = '/watch/';
    await suite.etcd.put(`${prefix}mode`, 'a');
    const app = await boot({ config: { prefix } });
    const config = app.get(EtcdConfigService);

    const seen: unknown[] = [];
    const errors: unknown[] = [];
    subscriptions.push(
      config.watch('mode').subscribe({ next: v => seen.push(v), error: e => errors.push(e) }),
    );
    expect(seen).toEqual(['a']); // synchronously, from memory

    const changes: ConfigChange[] = [];
    subscriptions.push(config.changes$.subscribe(c => changes.push(c)));

    await suite.etcd.put(`${prefix}mode`, 'b');
    await waitFor(() => seen.length === 2);
    const revisionOfB = await suite.etcd.revision();
    await suite.etcd.put(`${prefix}mode`, 'b'); // same value again: no repeat
    await suite.etcd.put(`${prefix}other`, 'x'); // another key: not seen by this watch
    await suite.etcd.put(`${prefix}mode`, 'c');
    await waitFor(() => seen.includes('c'));
    await suite.etcd.del(`${prefix}mode`);
    await waitFor(() => seen.length === 4);
    expect(seen).toEqual(['a', 'b', 'c', undefined]);
    expect(config.get('mode')).toBeUndefined();
    expect(config.get('mode', 'default-mode')).toBe('default-mode');

    // A late subscriber gets the current value first.
    await suite.etcd.put(`${prefix}mode`, 'd');
    await waitFor(() => seen.length === 5);
    expect(await nextValue(config.watch('mode'))).toBe('d');

    const modeChanges = changes.filter(c => c.key === 'mode');
    expect(modeChanges.map(c => [c.type, c.value, c.previousValue])).toEqual([
      ['put', 'b', 'a'],
      ['put', 'c', 'b'],
      ['delete', undefined, 'c'],
      ['put', 'd', undefined],
    ]);
    expect(modeChanges[0]!.revision).toBe(revisionOfB);
    for (let i = 1; i < modeChanges.length; i++) {
      expect(modeChanges[i]!.revision).toBeGreaterThan(modeChanges[i - 1]!.revision);
    }
    expect(changes.some(c => c.key === 'other' && c.value === 'x')).toBe(true);
    expect(errors).toEqual([]);
    expect(config.currentRevision).toBe(await suite.etcd.revision());
  });

  it('set() and delete() round trip through etcdctl', async () => {
    const prefix = '/rw/';
    const app = await boot({ config: { prefix } });
    const config = app.get(EtcdConfigService);

    const seen = nextValue(config.watch('obj'), v => v !== undefined);
    await config.set('obj', { a: 1, nested: { b: [1, 2] } });
    expect(await suite.etcd.get(`${prefix}obj`)).toBe('{"a":1,"nested":{"b":[1,2]}}');
    expect(await seen).toEqual({ a: 1, nested: { b: [1, 2] } });

    await config.set('text', 'plain text');
    await config.set('count', 3);
    await config.set('flag', false);
    expect(await suite.etcd.get(`${prefix}text`)).toBe('plain text');
    expect(await suite.etcd.get(`${prefix}count`)).toBe('3');
    expect(await suite.etcd.get(`${prefix}flag`)).toBe('false');
    await waitFor(() => config.get('flag') === false);
    expect(config.get('count')).toBe(3);

    const gone = nextValue(config.watch('obj'), v => v === undefined);
    await config.delete('obj');
    expect(await suite.etcd.get(`${prefix}obj`)).toBeUndefined();
    await gone;
    expect(config.getAll()).toEqual({ count: 3, flag: false, text: 'plain text' });
    await config.delete('never-existed'); // no error

    await expect(config.set('bad', undefined)).rejects.toThrow(/delete\(\)/);
    await expect(config.set('', 'x')).rejects.toThrow(/non-empty/);
  });

  it('namespace: keys live under <namespace><prefix>, invisible to other namespaces', async () => {
    await suite.etcd.put('/tenant-a/config/greeting', 'hello A');
    await suite.etcd.put('/tenant-b/config/greeting', 'hello B');
    const appA = await boot({ namespace: '/tenant-a' });
    const configA = appA.get(EtcdConfigService);
    expect(configA.get('greeting')).toBe('hello A');
    await configA.set('written', 'by A');
    expect(await suite.etcd.get('/tenant-a/config/written')).toBe('by A');
    expect(await suite.etcd.get('/config/written')).toBeUndefined();
  });

  describe('bad input', () => {
    const logs = new LogCapture();
    beforeEach(() => {
      logs.install();
    });
    afterEach(() => {
      logs.uninstall();
      logs.clear();
    });

    it('invalid UTF-8, 1 MiB and deeply nested values: nothing crashes, one warning per rejected update', async () => {
      const prefix = '/bad/';
      await suite.etcd.put(`${prefix}name`, 'good');
      await suite.etcd.put(`${prefix}limits`, '{"max":5}');
      const app = apps.track(
        await bootApp({
          imports: [
            EtcdModule.forRoot({
              hosts: suite.etcd.endpoint,
              retry: TEST_RETRY,
              config: { prefix },
            }),
          ],
          providers: [LimitsHolder],
        }),
      );
      const config = app.get(EtcdConfigService);
      const limits = app.get(LimitsHolder).limits;
      expect(limits.value).toEqual({ max: 5, burst: 0 });
      const seenLimits: unknown[] = [];
      const errors: unknown[] = [];
      subscriptions.push(
        limits.subscribe({ next: v => seenLimits.push(v), error: e => errors.push(e) }),
      );
      const raw = new Etcd3({ hosts: suite.etcd.endpoint });
      try {
        // Random bytes that are not UTF-8, written with a raw etcd3 client.
        const garbage = Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1]);
        await raw.put(`${prefix}name`).value(garbage);
        const nameRevision = await suite.etcd.revision();
        await raw.put(`${prefix}limits`).value(garbage);
        const limitsRevision = await suite.etcd.revision();
        await waitFor(() => logs.warnings('"limits"').length > 0);
        // Nothing reads "name" as it changes: it is decoded (and rejected) when read.
        await waitFor(() => config.get('name') === 'good' && logs.warnings('"name"').length > 0);
        expect(logs.warnings('"name"')).toEqual([
          expect.stringContaining(`revision ${nameRevision}`) as string,
        ]);
        expect(logs.warnings('"name"')[0]).toMatch(/not valid UTF-8/);
        expect(logs.warnings('"limits"')).toEqual([
          expect.stringContaining(`revision ${limitsRevision}`) as string,
        ]);
        expect(config.get('name')).toBe('good'); // last good value kept
        expect(limits.value).toEqual({ max: 5, burst: 0 });
        logs.clear();

        // 1 MiB value: a plain key accepts it intact; the schema'd key rejects it (one warning).
        const big = 'x'.repeat(1024 * 1024);
        await suite.etcd.put(`${prefix}big`, big);
        await suite.etcd.put(`${prefix}limits`, big);
        const bigRevision = await suite.etcd.revision();
        await waitFor(() => logs.warnings('"limits"').length > 0);
        await waitFor(() => config.get<string>('big')?.length === big.length);
        expect(config.get('big')).toBe(big);
        expect(logs.warnings('"big"')).toEqual([]);
        expect(logs.warnings('"limits"')).toHaveLength(1);
        expect(logs.warnings('"limits"')[0]).toContain(`revision ${bigRevision}`);
        expect(logs.warnings('"limits"')[0]).toContain('expected an object');
        expect(logs.warnings('"limits"')[0]!.length).toBeLessThan(600); // never the value
        expect(limits.value).toEqual({ max: 5, burst: 0 });
        logs.clear();

        // Deeply nested JSON: decodes without blowing the stack; the schema rejects it.
        const depth = 100_000;
        const nested = '['.repeat(depth) + ']'.repeat(depth);
        await suite.etcd.put(`${prefix}nested`, nested);
        await suite.etcd.put(`${prefix}limits`, nested);
        await waitFor(() => logs.warnings('"limits"').length > 0);
        await waitFor(() => config.get('nested') !== undefined);
        let level: unknown = config.get('nested');
        let measured = 0;
        while (Array.isArray(level) && level.length > 0) {
          level = level[0];
          measured++;
        }
        expect(measured).toBe(depth - 1);
        expect(logs.warnings('"limits"')).toHaveLength(1);
        expect(logs.warnings('"limits"')[0]).toContain('an array');
        expect(limits.value).toEqual({ max: 5, burst: 0 });

        // State stays consistent: every key is there and later good writes still flow.
        await suite.etcd.put(`${prefix}name`, 'better');
        await suite.etcd.put(`${prefix}limits`, '{"max":9,"burst":2}');
        await nextValue(limits, v => v.max === 9);
        await waitFor(() => config.get('name') === 'better');
        expect(Object.keys(config.getAll()).sort()).toEqual(['big', 'limits', 'name', 'nested']);
        expect(seenLimits).toEqual([
          { max: 5, burst: 0 },
          { max: 9, burst: 2 },
        ]);
        expect(errors).toEqual([]);
      } finally {
        raw.close();
      }
    });
  });
});
