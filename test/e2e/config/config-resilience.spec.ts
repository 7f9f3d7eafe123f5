import 'reflect-metadata';
import { jest } from '@jest/globals';
import { Injectable, Logger, Module } from '@nestjs/common';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { filter } from 'rxjs';
import {
  EtcdConfigService,
  EtcdConnectionError,
  EtcdModule,
  InjectConfig,
  type ConfigChange,
  type ConfigValue,
  type EtcdModuleOptions,
} from '../../../lib/index.js';
import { TcpProxy, expectDuration, freePort, nextValue, waitFor } from '../../support/index.js';
import { bootApp, useConfigSuite } from '../../support/config-test-kit.js';
import { useTempDir } from '../../support/etcd-suite.js';
import { TEST_RETRY } from '../../support/nest-apps.js';
import { limitsSchema } from '../../fixtures/config/config-schemas.js';

@Injectable()
class Greeter {
  readonly greetingAtConstruction: string;
  constructor(
    @InjectConfig('greeting', { default: 'default greeting' })
    readonly greeting: ConfigValue<string>,
  ) {
    this.greetingAtConstruction = greeting.value;
  }
}

@Module({ providers: [Greeter], exports: [Greeter] })
class GreeterModule {}

@Injectable()
class LimitsHolder {
  constructor(
    @InjectConfig('limits', { default: { max: 1, burst: 0 }, schema: limitsSchema })
    readonly limits: ConfigValue<{ max: number; burst: number }>,
  ) {}
}

@Module({ providers: [LimitsHolder] })
class LimitsModule {}

interface SnapshotFile {
  revision: number;
  savedAt: string;
  values: Record<string, string>;
}

async function readSnapshot(file: string): Promise<SnapshotFile | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as SnapshotFile;
  } catch {
    return undefined;
  }
}

/** Quick recovery for tests (etcd refuses keep-alive pings more often than every 5 s). */
const FAST_DETECTION: EtcdModuleOptions = { retry: TEST_RETRY };

describe('config resilience against real etcd: snapshot boot, outages, recovery', () => {
  const suite = useConfigSuite({
    restartIfStopped: true,
    clearPrefix: '/config/',
    captureLogs: true,
  });
  const { apps, subscriptions, logs } = suite;
  const tmp = useTempDir('nest-etcd-config-');

  it('writes a snapshot, boots from it while etcd is down, then resyncs and emits the real differences', async () => {
    const snapshotFile = join(tmp.path, 'boot', 'config.snapshot.json');
    await suite.etcd.put('/config/greeting', 'hello v1');
    await suite.etcd.put('/config/limit', '5');
    await suite.etcd.put('/config/stale', 'soon deleted');
    const options: EtcdModuleOptions = {
      hosts: suite.etcd.endpoint,
      connectTimeout: 1000,
      config: { snapshotFile, snapshotDebounce: 20 },
      ...FAST_DETECTION,
    };

    // 1. A normal run writes the last-known-good file.
    const first = apps.track(
      await bootApp({ imports: [EtcdModule.forRoot(options), GreeterModule] }),
    );
    const written = (await waitFor(() => readSnapshot(snapshotFile)))!;
    expect(written.values).toEqual({ greeting: 'hello v1', limit: '5', stale: 'soon deleted' });
    expect(written.revision).toBe(await suite.etcd.revision());
    expectDuration(
      Date.now() - Date.parse(written.savedAt),
      60_000,
      'age of the snapshot savedAt stamp',
    );
    // A later change is written too (debounced).
    await suite.etcd.put('/config/limit', '6');
    await waitFor(async () => (await readSnapshot(snapshotFile))?.values.limit === '6');
    await apps.closeAll();
    expect(first.get(EtcdConfigService).get('limit')).toBe(6);

    // 2. etcd moves on while the app is down, then etcd itself goes down (port closed).
    await suite.etcd.put('/config/greeting', 'hello v2');
    await suite.etcd.del('/config/stale');
    await suite.etcd.put('/config/fresh', 'new key');
    await suite.etcd.stop();
    logs.clear();

    // 3. Boot with etcd unreachable: served from the snapshot, with ONE warning line.
    const app = apps.track(
      await bootApp({ imports: [EtcdModule.forRoot(options), GreeterModule] }),
    );
    const config = app.get(EtcdConfigService);
    const greeter = app.get(Greeter);
    expect(greeter.greetingAtConstruction).toBe('hello v1');
    expect(config.getAll()).toEqual({ greeting: 'hello v1', limit: 6, stale: 'soon deleted' });
    const bootWarnings = logs.warnings('snapshot');
    expect(bootWarnings).toHaveLength(1);
    expect(bootWarnings[0]).toContain(snapshotFile);
    expect(bootWarnings[0]).toContain(`revision ${written.revision + 1}`);
    expect(logs.warnings().filter(l => /unreachable|lost|snapshot/.test(l))).toHaveLength(1);
    expect(await nextValue(config.connected$)).toBe(false);

    const changes: ConfigChange[] = [];
    const greetings: string[] = [];
    const errors: unknown[] = [];
    subscriptions.push(
      config.changes$.subscribe(c => changes.push(c)),
      greeter.greeting.subscribe({ next: v => greetings.push(v), error: e => errors.push(e) }),
    );

    // 4. etcd comes back: the background retry resyncs and emits only the real differences.
    await suite.etcd.restart();
    await nextValue(greeter.greeting, v => v === 'hello v2', 15_000);
    await waitFor(() => changes.length >= 3);
    expect(
      changes
        .map(c => [c.key, c.type, c.value, c.previousValue])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    ).toEqual([
      ['fresh', 'put', 'new key', undefined],
      ['greeting', 'put', 'hello v2', 'hello v1'],
      ['stale', 'delete', undefined, 'soon deleted'],
    ]);
    expect(greetings).toEqual(['hello v1', 'hello v2']);
    expect(errors).toEqual([]);
    expect(config.getAll()).toEqual({ fresh: 'new key', greeting: 'hello v2', limit: 6 });
    expect(await nextValue(config.connected$, c => c, 5000)).toBe(true);

    // The snapshot follows the resync.
    const latest = await suite.etcd.revision();
    await waitFor(async () => (await readSnapshot(snapshotFile))?.revision === latest);
    expect((await readSnapshot(snapshotFile))?.values).toEqual({
      fresh: 'new key',
      greeting: 'hello v2',
      limit: '6',
    });
  });

  it('the snapshot holds what the app accepted; offline boot and catch-up are one line each, in our words', async () => {
    const snapshotFile = join(tmp.path, 'accepted', 'config.snapshot.json');
    const options: EtcdModuleOptions = {
      hosts: suite.etcd.endpoint,
      connectTimeout: 1000,
      config: { snapshotFile, snapshotDebounce: 20 },
      ...FAST_DETECTION,
    };
    await suite.etcd.put('/config/limits', '{"max": 5}');
    apps.track(await bootApp({ imports: [EtcdModule.forRoot(options), LimitsModule] }));
    await waitFor(async () => (await readSnapshot(snapshotFile))?.values.limits === '{"max": 5}');

    // A value the schema refuses is never written to the last-known-good file.
    await suite.etcd.put('/config/limits', '{"max": "lots"}');
    await suite.etcd.put('/config/other', 'later');
    const head = await suite.etcd.revision();
    await waitFor(async () => (await readSnapshot(snapshotFile))?.revision === head);
    expect(logs.warnings('"limits"', 'rejected')).toHaveLength(1);
    expect((await readSnapshot(snapshotFile))?.values).toEqual({
      limits: '{"max": 5}',
      other: 'later',
    });
    await apps.closeAll();

    await suite.etcd.stop();
    logs.clear();
    const logSpy = jest.spyOn(Logger.prototype, 'log');
    try {
      const app = apps.track(
        await bootApp({ imports: [EtcdModule.forRoot(options), LimitsModule] }),
      );
      // The new instance starts with the value the last one accepted, and says nothing false.
      expect(app.get(LimitsHolder).limits.value).toEqual({ max: 5, burst: 0 });
      expect(logs.warnings('rejected')).toEqual([]);
      const offline = logs.warnings('snapshot');
      expect(offline).toHaveLength(1);
      expect(offline[0]).toMatch(/^etcd unreachable at boot: /);
      expect(offline[0]).toContain(`revision ${head}`);

      await suite.etcd.restart();
      const caughtUp = () =>
        logSpy.mock.calls.map(c => String(c[0])).filter(l => /caught up/.test(l));
      await waitFor(() => caughtUp().some(l => l.startsWith('config caught up')), {
        timeout: 15_000,
        message: 'the config center to log that it caught up with etcd',
      });
      expect(caughtUp().filter(l => l.startsWith('config caught up'))).toHaveLength(1);
      expect(caughtUp()[0]).toContain(`revision ${head}`);
      // etcd3's own words never reach the log.
      const all = [...logs.warnings(), ...logSpy.mock.calls.map(c => String(c[0]))];
      expect(all.filter(l => /circuit breaker/i.test(l))).toEqual([]);
      // And the app follows etcd again.
      await suite.etcd.put('/config/limits', '{"max": 7}');
      await nextValue(app.get(LimitsHolder).limits, v => v.max === 7, 10_000);
    } finally {
      logSpy.mockRestore();
    }
  });

  it('a corrupt snapshot is ignored with a warning and boot fails with EtcdConnectionError', async () => {
    const unreachable = `http://127.0.0.1:${await freePort()}`;
    const cases: Array<[string, string]> = [
      ['truncated.json', '{"format":"nest-etcd-config-snapshot","version":1,"values":{"gree'],
      ['garbage.json', '\u0000\u0001 not json at all'],
      ['wrong-shape.json', '{"format":"nest-etcd-config-snapshot","version":1,"values":[]}'],
      [
        'other-app.json',
        JSON.stringify({
          format: 'nest-etcd-config-snapshot',
          version: 1,
          source: '/someone-else/',
          revision: 3,
          savedAt: new Date().toISOString(),
          values: { greeting: 'not ours' },
        }),
      ],
    ];
    for (const [name, content] of cases) {
      const snapshotFile = join(tmp.path, name);
      await writeFile(snapshotFile, content);
      logs.clear();
      const boot = bootApp({
        imports: [
          EtcdModule.forRoot({
            hosts: unreachable,
            connectTimeout: 500,
            retry: TEST_RETRY,
            config: { snapshotFile },
          }),
        ],
      });
      await expect(boot).rejects.toBeInstanceOf(EtcdConnectionError);
      await expect(boot).rejects.toThrow(unreachable.replace('http://', ''));
      const lines = logs.warnings(snapshotFile);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/ignor/);
      // The corrupt file is left for a person to inspect, not overwritten.
      expect(await readFile(snapshotFile, 'utf8')).toBe(content);
    }
  });

  it('etcd killed at runtime: values keep being served, watchers do not error, updates resume after restart', async () => {
    await suite.etcd.put('/config/greeting', 'before outage');
    const app = apps.track(
      await bootApp({
        imports: [
          EtcdModule.forRoot({ hosts: suite.etcd.endpoint, ...FAST_DETECTION }),
          GreeterModule,
        ],
      }),
    );
    const config = app.get(EtcdConfigService);
    const greeter = app.get(Greeter);
    const watched: unknown[] = [];
    const errors: unknown[] = [];
    let completed = false;
    subscriptions.push(
      config.watch('greeting').subscribe({
        next: v => watched.push(v),
        error: e => errors.push(e),
        complete: () => (completed = true),
      }),
      greeter.greeting.subscribe({ error: e => errors.push(e) }),
    );

    // Make sure the watch stream is established (not only the first list) before the crash.
    await suite.etcd.put('/config/probe', 'watch is live');
    await waitFor(() => config.get('probe') === 'watch is live');
    await suite.etcd.kill();
    await nextValue(config.connected$, c => !c, 10_000);
    expect(config.get('greeting')).toBe('before outage');
    expect(greeter.greeting.value).toBe('before outage');
    expect(config.getOrThrow('greeting')).toBe('before outage');
    await expect(config.set('greeting', 'x')).rejects.toThrow();

    await suite.etcd.restart();
    await suite.etcd.put('/config/greeting', 'after outage');
    await nextValue(greeter.greeting, v => v === 'after outage', 15_000);
    expect(config.get('greeting')).toBe('after outage');
    await waitFor(() => watched.includes('after outage'));
    expect(watched).toEqual(['before outage', 'after outage']);
    expect(errors).toEqual([]);
    expect(completed).toBe(false);
    await config.set('greeting', 'written by the app again');
    expect(await suite.etcd.get('/config/greeting')).toBe('written by the app again');
  });

  it('network partition: changes made meanwhile arrive once the path heals', async () => {
    await suite.etcd.put('/config/greeting', 'before partition');
    await suite.etcd.put('/config/doomed', 'will be deleted');
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: suite.etcd.clientPort });
    try {
      const app = apps.track(
        await bootApp({
          imports: [
            EtcdModule.forRoot({ hosts: proxy.endpoint, ...FAST_DETECTION }),
            GreeterModule,
          ],
        }),
      );
      const config = app.get(EtcdConfigService);
      const greeter = app.get(Greeter);
      const errors: unknown[] = [];
      const changes: ConfigChange[] = [];
      subscriptions.push(
        config.changes$.subscribe({ next: c => changes.push(c), error: e => errors.push(e) }),
        greeter.greeting.subscribe({ error: e => errors.push(e) }),
      );

      // Make sure the watch stream is established (not only the first list) before cutting it.
      await suite.etcd.put('/config/probe', 'watch is live');
      await waitFor(() => config.get('probe') === 'watch is live');
      proxy.blackhole();
      proxy.reset();
      await nextValue(config.connected$.pipe(filter(c => !c)), undefined, 10_000);

      // Someone changes config directly in etcd while this app cannot see it.
      await suite.etcd.put('/config/greeting', 'changed during partition');
      await suite.etcd.del('/config/doomed');
      await suite.etcd.put('/config/added', '{"during":"partition"}');
      expect(greeter.greeting.value).toBe('before partition');
      expect(config.get('doomed')).toBe('will be deleted');

      // Heal, and reset the connections whose bytes the blackhole swallowed (a real network would
      // retransmit them; the proxy drops them for good).
      proxy.heal();
      proxy.reset();
      await nextValue(greeter.greeting, v => v === 'changed during partition', 20_000);
      await waitFor(() => config.get('added') !== undefined && config.get('doomed') === undefined);
      expect(config.getAll()).toEqual({
        added: { during: 'partition' },
        greeting: 'changed during partition',
        probe: 'watch is live',
      });
      expect(changes.map(c => `${c.type} ${c.key}`).sort()).toEqual([
        'delete doomed',
        'put added',
        'put greeting',
        'put probe',
      ]);
      expect(errors).toEqual([]);
    } finally {
      await apps.closeAll();
      await proxy.close();
    }
  });

  it('revisions replayed in one watch response after a partition are each reported once, with their own value', async () => {
    // A writer whose put timed out retries it: the same value again at a new revision. When the
    // app catches up after a partition, etcd replays both revisions (and the others missed) in one
    // watch response. Each revision must be reported as what it wrote, and a revision that wrote
    // the bytes already served must not be reported at all.
    await suite.etcd.put('/config/seq', '0');
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: suite.etcd.clientPort });
    try {
      const app = apps.track(
        await bootApp({
          imports: [EtcdModule.forRoot({ hosts: proxy.endpoint, ...FAST_DETECTION })],
        }),
      );
      const config = app.get(EtcdConfigService);
      const changes: string[] = [];
      subscriptions.push(
        config.changes$.subscribe(c => changes.push(`${c.key}=${String(c.value)}@${c.revision}`)),
      );
      await suite.etcd.put('/config/probe', 'watch is live');
      await waitFor(() => config.get('probe') === 'watch is live');
      changes.length = 0;
      proxy.blackhole();
      proxy.reset();
      await nextValue(config.connected$.pipe(filter(c => !c)), undefined, 10_000);

      const revisions: number[] = [];
      const put = async (key: string, value: string) => {
        await suite.etcd.put(`/config/${key}`, value);
        revisions.push(await suite.etcd.revision());
      };
      await put('seq', '1');
      await put('seq', '1'); // the retried put: same bytes, a new revision
      await put('counter', '1');
      await put('seq', '2');
      await put('counter', '2');

      proxy.heal();
      proxy.reset();
      await waitFor(() => config.get('counter') === 2, {
        timeout: 20_000,
        message: 'the app caught up with the writes made during the partition',
      });
      const [seq1, , counter1, seq2, counter2] = revisions;
      expect(changes).toEqual([
        `seq=1@${seq1}`,
        `counter=1@${counter1}`,
        `seq=2@${seq2}`,
        `counter=2@${counter2}`,
      ]);
    } finally {
      await apps.closeAll();
      await proxy.close();
    }
  });
});
