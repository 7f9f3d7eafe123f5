import 'reflect-metadata';
import { Injectable, type INestApplication } from '@nestjs/common';
import { z } from 'zod';
import {
  ConfigRevisionAbsentError,
  EtcdConfigService,
  EtcdModule,
  InjectConfig,
  defineConfig,
  type ConfigValueOf,
} from '../../../lib/index.js';
import { expectDuration, waitFor } from '../../support/index.js';
import { bootApp, useConfigSuite } from '../../support/config-test-kit.js';
import { TEST_RETRY } from '../../support/nest-apps.js';

const limits = defineConfig('limits.json', {
  schema: z.object({ max: z.number().int().positive() }),
  default: { max: 1 },
});

@Injectable()
class Limits {
  constructor(@InjectConfig(limits) readonly current: ConfigValueOf<typeof limits>) {}
}

describe('history complete, marked and fast; rollback of a key that did not exist, of a folder; validate()', () => {
  const suite = useConfigSuite({ restartIfStopped: true, clearPrefix: '/', captureLogs: true });

  async function boot(): Promise<{ app: INestApplication; config: EtcdConfigService }> {
    const app = suite.apps.track(
      await bootApp({
        imports: [EtcdModule.forRoot({ hosts: suite.etcd.endpoint, retry: TEST_RETRY })],
        providers: [Limits],
      }),
    );
    return { app, config: app.get(EtcdConfigService) };
  }

  it('every generation across deletes, even after the key stayed deleted for 100 revisions; each entry marked valid or not', async () => {
    const { config } = await boot();
    const expected: Array<[number, string | undefined]> = [];
    for (let generation = 0; generation < 3; generation++) {
      await config.set('flag', `g${generation}`);
      expected.push([await suite.etcd.revision(), `g${generation}`]);
      await config.delete('flag');
      expected.push([await suite.etcd.revision(), undefined]);
      // The key stays deleted for more than 64 revisions.
      for (let i = 0; i < 100; i++) await config.set('noise', String(i));
    }
    await config.set('flag', 'last');
    expected.push([await suite.etcd.revision(), 'last']);

    const history = await config.history('flag');
    expect(history.map(entry => [entry.revision, entry.raw])).toEqual(expected.reverse());
    expect(history.every(entry => entry.valid)).toBe(true);
    expect(history.filter(entry => entry.deleted)).toHaveLength(3);
    expect(await config.history('flag', { limit: 3 })).toEqual(history.slice(0, 3));
    expect(await config.history('never-set')).toEqual([]);

    // Marks: the key's format and schema, as the app would apply them.
    await suite.etcd.put('/config/limits.json', '{"max":5}');
    await suite.etcd.put('/config/limits.json', '{"max":-1}');
    await suite.etcd.put('/config/limits.json', '{"max":');
    const marked = await config.history('limits.json');
    expect(marked.map(entry => [entry.raw, entry.valid])).toEqual([
      ['{"max":', false],
      ['{"max":-1}', false],
      ['{"max":5}', true],
    ]);
    expect(marked[0]!.reason).toMatch(/invalid JSON/);
    expect(marked[1]!.reason).toMatch(/max/);
    expect(marked[2]!.value).toEqual({ max: 5 });
  });

  it('reads 1,000 revisions with one watch (a figure, not a bound: printed)', async () => {
    const { config } = await boot();
    for (let i = 0; i < 1_000; i++) await config.set('busy', String(i));
    const started = performance.now();
    const history = await config.history('busy', { limit: 1_000 });
    const ms = performance.now() - started;
    expect(history).toHaveLength(1_000);
    expect(history[0]!.raw).toBe('999');
    expect(history[999]!.raw).toBe('0');
    process.stdout.write(`history(limit 1000) of a key with 1000 revisions: ${ms.toFixed(0)} ms\n`);
    // Generous (a loaded machine): about 150 ms at load 6.5 on 2 cores, 25x under the bound; the old
    // one-read-per-revision took 4.3 s, so the bound still tells the two apart.
    expectDuration(ms, 4_000, 'history(limit 1000) of a key with 1000 revisions');
  });

  it('rollback to a revision where the key did not exist: a named error, nothing changed', async () => {
    const { config } = await boot();
    const before = await suite.etcd.revision();
    await config.set('born-late', 'v1');
    await waitFor(() => config.get('born-late') === 'v1');
    let thrown: unknown;
    try {
      await config.rollback('born-late', before);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigRevisionAbsentError);
    expect((thrown as Error).message).toContain(`"born-late" did not exist at revision ${before}`);
    expect(await suite.etcd.get('/config/born-late')).toBe('v1');
  });

  it('rollback of a folder: its keys as they were, in one transaction; keys created since are deleted', async () => {
    const { config } = await boot();
    const folder = config.getConfigValue<Record<string, unknown>>('db/');
    const emissions: unknown[] = [];
    suite.subscriptions.push(folder.subscribe(value => emissions.push(value)));
    await suite.etcd.put('/config/db/host', 'a.internal');
    await suite.etcd.put('/config/db/port', '5432');
    const then = await suite.etcd.revision();
    await suite.etcd.put('/config/db/host', 'b.internal');
    await suite.etcd.del('/config/db/port');
    await suite.etcd.put('/config/db/pool/max', '10');
    await waitFor(() => (folder.value as { pool?: unknown }).pool !== undefined);
    const seen = emissions.length;

    await config.rollback('db/', then);
    await waitFor(() => (folder.value as { host?: unknown }).host === 'a.internal');
    expect(folder.value).toEqual({ host: 'a.internal', port: 5432 });
    expect(await suite.etcd.getPrefix('/config/db/')).toEqual(
      new Map([
        ['/config/db/host', 'a.internal'],
        ['/config/db/port', '5432'],
      ]),
    );
    // One transaction: one emission of the folder.
    expect(emissions.length - seen).toBe(1);

    let thrown: unknown;
    try {
      await config.rollback('empty/', then);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigRevisionAbsentError);
  });

  it('validate(): the same decoding and schema an incoming value goes through', async () => {
    const { app, config } = await boot();
    expect(config.validate(limits, '{"max":3}')).toEqual({ ok: true, value: { max: 3 } });
    expect(config.validate('limits.json', '{"max":0}')).toEqual({
      ok: false,
      reason: expect.stringMatching(/^schema rejected it: max: /),
    });
    expect(config.validate('limits.json', 'max: 3')).toEqual({
      ok: false,
      reason: expect.stringMatching(/^invalid JSON document/),
    });
    expect(config.validate('settings.yaml', 'a: [1')).toEqual({
      ok: false,
      reason: expect.stringMatching(/^invalid YAML document/),
    });
    expect(config.validate('plain', '42')).toEqual({ ok: true, value: 42 });

    // The app refuses exactly what validate() refuses, with the same reason.
    const verdict = config.validate('limits.json', '{"max":-2}');
    await suite.etcd.put('/config/limits.json', '{"max":-2}');
    await waitFor(() => config.keyStatuses()['limits.json']?.state === 'rejected');
    expect(config.keyStatuses()['limits.json']!.reason).toBe(
      verdict.ok ? 'accepted' : verdict.reason,
    );
    expect(app.get(Limits).current.value).toEqual({ max: 1 });
  });
});
