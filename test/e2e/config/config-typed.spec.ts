import 'reflect-metadata';
import { Injectable, type INestApplication } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z as z3 } from 'zod/v3';
import { z } from 'zod';
import {
  ConfigRevisionCompactedError,
  EtcdConfigService,
  EtcdModule,
  InjectConfig,
  OnConfigChange,
  defineConfig,
  type ConfigChange,
  type ConfigValue,
  type ConfigValueOf,
  type EtcdModuleOptions,
} from '../../../lib/index.js';
import { nextValue, waitFor } from '../../support/index.js';
import { bootApp, useConfigSuite } from '../../support/config-test-kit.js';
import { useTempDir } from '../../support/etcd-suite.js';
import { TEST_RETRY } from '../../support/nest-apps.js';

// Definitions: the schema gives the type (zod 4, zod 3, any object with parse).
const databaseConfig = defineConfig('typed/db.yaml', {
  schema: z.object({ host: z.string(), port: z.number().int() }),
  default: { host: 'localhost', port: 5432 },
});
const limitsConfig = defineConfig('typed/limits.json', {
  schema: z3.object({ max: z3.number(), burst: z3.number().default(0) }),
});
const poolConfig = defineConfig('typed/pool/', {
  schema: z.object({
    host: z.string(),
    port: z.coerce.number(),
    pool: z.object({ max: z.number() }),
  }),
});
const ratioConfig = defineConfig('typed/ratio', {
  parse: raw => {
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new Error(`"${raw}" is not a number`);
    return value;
  },
  default: 1,
});

@Injectable()
class TypedSettings {
  readonly portAtConstruction: number;
  constructor(
    @InjectConfig(databaseConfig) readonly database: ConfigValueOf<typeof databaseConfig>,
    @InjectConfig(limitsConfig) readonly limits: ConfigValueOf<typeof limitsConfig>,
    @InjectConfig(poolConfig) readonly pool: ConfigValueOf<typeof poolConfig>,
    @InjectConfig(ratioConfig) readonly ratio: ConfigValueOf<typeof ratioConfig>,
    @InjectConfig('typed/plain', { default: 'plain default' })
    readonly plain: ConfigValue<string>,
  ) {
    // Typed: these compile only because the types come from the schemas / parse.
    const port: number = database.value.port;
    const ratioValue: number = ratio.value;
    this.portAtConstruction = port + ratioValue - ratioValue;
  }
}

/** Handlers of every kind: a definition, a plain key, a folder, one that throws, one that is slow. */
@Injectable()
class Handlers {
  readonly database: Array<[{ host: string; port: number }, ConfigChange]> = [];
  readonly plain: unknown[] = [];
  readonly folder: unknown[] = [];
  readonly slow: unknown[] = [];
  thrown = 0;
  gate: Promise<void> = Promise.resolve();

  @OnConfigChange(databaseConfig)
  onDatabase(value: { host: string; port: number }, change: ConfigChange): void {
    this.database.push([value, change]);
  }

  @OnConfigChange('hooks/greeting')
  onGreeting(value: unknown): void {
    this.plain.push(value);
  }

  @OnConfigChange('hooks/greeting')
  onGreetingThrows(): void {
    this.thrown++;
    throw new Error('handler failure on purpose');
  }

  @OnConfigChange('hooks/greeting')
  async onGreetingSlow(value: unknown): Promise<void> {
    await this.gate;
    this.slow.push(value);
  }

  @OnConfigChange('hooks/folder/')
  onFolder(value: unknown): void {
    this.folder.push(value);
  }
}

describe('typed config against real etcd: definitions, formats, folders, layers, hooks, history', () => {
  const suite = useConfigSuite({ restartIfStopped: true, clearPrefix: '/', captureLogs: true });
  const { apps, subscriptions, logs } = suite;
  const tmp = useTempDir('nest-etcd-typed-');

  async function boot(
    options: EtcdModuleOptions = {},
    metadata: { imports?: unknown[]; providers?: unknown[] } = {},
  ): Promise<INestApplication> {
    return apps.track(
      await bootApp({
        imports: [
          EtcdModule.forRoot({ hosts: suite.etcd.endpoint, retry: TEST_RETRY, ...options }),
          ...((metadata.imports ?? []) as []),
        ],
        providers: (metadata.providers ?? []) as [],
      }),
    );
  }

  it('defineConfig + @InjectConfig(definition): YAML and JSON by key name, zod 3 / zod 4 / parse; invalid documents keep the last good value', async () => {
    await suite.etcd.put('/config/typed/db.yaml', 'host: db.internal\nport: 6432\n');
    await suite.etcd.put('/config/typed/limits.json', '{"max": 10}');
    await suite.etcd.put('/config/typed/ratio', '0.5');
    const app = await boot({}, { providers: [TypedSettings] });
    const settings = app.get(TypedSettings);
    expect(settings.portAtConstruction).toBe(6432);
    expect(settings.database.value).toEqual({ host: 'db.internal', port: 6432 });
    expect(settings.limits.value).toEqual({ max: 10, burst: 0 });
    expect(settings.ratio.value).toBe(0.5);
    expect(settings.plain.value).toBe('plain default');
    expect(app.get(EtcdConfigService).get('typed/db.yaml')).toEqual({
      host: 'db.internal',
      port: 6432,
    });

    // An invalid YAML document: rejected with one line, last good kept.
    await suite.etcd.put('/config/typed/db.yaml', 'host: [unclosed\nport: 1\n');
    const badYaml = await suite.etcd.revision();
    await waitFor(() => logs.warnings('typed/db.yaml', 'rejected').length === 1, {
      message: 'the invalid YAML document to be rejected',
    });
    expect(logs.warnings('typed/db.yaml', 'rejected')[0]).toMatch(
      new RegExp(
        `revision ${badYaml} rejected: invalid YAML document: .*keeping the value of revision`,
      ),
    );
    expect(settings.database.value).toEqual({ host: 'db.internal', port: 6432 });

    // A valid document the schema refuses: one readable line (zod 4 issues, not a JSON dump).
    await suite.etcd.put('/config/typed/db.yaml', 'host: db2\nport: "6433"\n');
    await waitFor(() => logs.warnings('"typed/db.yaml"', 'schema rejected it').length === 1, {
      message: 'the schema rejection of typed/db.yaml',
    });
    const line = logs.warnings('"typed/db.yaml"', 'schema rejected it')[0]!;
    expect(line).toMatch(/schema rejected it: port: .*number/i);
    expect(line).not.toContain('"code"');

    // Invalid JSON for a .json key is rejected too; zod 3 fills the default.
    await suite.etcd.put('/config/typed/limits.json', 'max=20');
    await waitFor(() => logs.warnings('typed/limits.json', 'invalid JSON document').length === 1);
    await suite.etcd.put('/config/typed/limits.json', '{"max": 20, "burst": 5}');
    await nextValue(settings.limits, v => v.max === 20);
    expect(settings.limits.value).toEqual({ max: 20, burst: 5 });

    // A good document again goes through.
    await suite.etcd.put('/config/typed/db.yaml', 'host: db3\nport: 7000\n');
    await nextValue(settings.database, v => v.host === 'db3');
    expect(settings.database.value).toEqual({ host: 'db3', port: 7000 });

    // Deleted: back to the definition's default. A rejected parse keeps the last good ratio.
    await suite.etcd.put('/config/typed/ratio', 'half');
    await waitFor(() => logs.warnings('"typed/ratio"', 'parse failed').length === 1);
    expect(settings.ratio.value).toBe(0.5);
    await suite.etcd.del('/config/typed/db.yaml');
    await nextValue(settings.database, v => v.host === 'localhost');
  });

  it('folders: every key below db/ as one object; a transaction of three keys is ONE emission', async () => {
    await suite.etcd.put('/config/typed/pool/host', 'db.internal');
    await suite.etcd.put('/config/typed/pool/port', '5432');
    await suite.etcd.put('/config/typed/pool/pool/max', '10');
    const app = await boot({}, { providers: [TypedSettings] });
    const settings = app.get(TypedSettings);
    const config = app.get(EtcdConfigService);
    expect(settings.pool.value).toEqual({ host: 'db.internal', port: 5432, pool: { max: 10 } });
    expect(config.get('typed/pool/')).toEqual({
      host: 'db.internal',
      port: 5432,
      pool: { max: 10 },
    });

    const typed: unknown[] = [];
    const watched: unknown[] = [];
    subscriptions.push(
      settings.pool.subscribe(v => typed.push(v)),
      config.watch('typed/pool/').subscribe(v => watched.push(v)),
    );
    await suite.etcd.etcdctl(['txn'], {
      input: [
        '',
        'put /config/typed/pool/host db2.internal',
        'put /config/typed/pool/port 6432',
        'put /config/typed/pool/pool/max 20',
        '',
        '',
        '',
      ].join('\n'),
    });
    await nextValue(settings.pool, v => v.pool.max === 20);
    // One more, later revision proves nothing else was queued from the transaction.
    await suite.etcd.put('/config/typed/pool/pool/max', '30');
    await nextValue(settings.pool, v => v.pool.max === 30);
    const expected = [
      { host: 'db.internal', port: 5432, pool: { max: 10 } },
      { host: 'db2.internal', port: 6432, pool: { max: 20 } },
      { host: 'db2.internal', port: 6432, pool: { max: 30 } },
    ];
    expect(typed).toEqual(expected);
    await waitFor(() => watched.length === 3, { message: 'the folder watch to see 3 values' });
    expect(watched).toEqual(expected);

    // Deleting the folder: the value falls back (no default: the last good value stays typed as
    // the schema output, and get() says undefined).
    await suite.etcd.del('/config/typed/pool/', { prefix: true });
    await waitFor(() => config.get('typed/pool/') === undefined);
  });

  it('layers: shared below own below the active profile; live as the overlay comes and goes (gray release)', async () => {
    await suite.etcd.put('/shared/greeting', 'from shared');
    await suite.etcd.put('/shared/timeout', '30');
    const canary = await boot({ config: { shared: ['/shared/'], profiles: ['canary'] } });
    const stable = await boot({ config: { shared: ['/shared/'], profiles: [] } });
    const canaryConfig = canary.get(EtcdConfigService);
    const stableConfig = stable.get(EtcdConfigService);
    expect(canaryConfig.get('greeting')).toBe('from shared');
    expect(canaryConfig.getAll()).toEqual({ greeting: 'from shared', timeout: 30 });

    const changes: ConfigChange[] = [];
    const seen: unknown[] = [];
    const value = canaryConfig.getConfigValue<string>('greeting');
    subscriptions.push(
      canaryConfig.changes$.subscribe(c => changes.push(c)),
      canaryConfig.watch('greeting').subscribe(v => seen.push(v)),
    );

    await suite.etcd.put('/config/greeting', 'hello');
    await nextValue(value, v => v === 'hello');
    await suite.etcd.etcdctl(['put', '/config/@canary/greeting', 'hello canary']);
    await nextValue(value, v => v === 'hello canary');
    expect(canaryConfig.get('greeting')).toBe('hello canary');
    await waitFor(() => stableConfig.get('greeting') === 'hello');
    expect(stableConfig.get('greeting')).toBe('hello');
    expect(stableConfig.getAll()).toEqual({ greeting: 'hello', timeout: 30 });

    // A base change hidden by the overlay changes nothing for the canary.
    await suite.etcd.put('/config/greeting', 'hello again');
    await waitFor(() => stableConfig.get('greeting') === 'hello again');
    expect(canaryConfig.get('greeting')).toBe('hello canary');

    await suite.etcd.etcdctl(['del', '/config/@canary/greeting']);
    await nextValue(value, v => v === 'hello again');
    await suite.etcd.del('/config/greeting');
    await nextValue(value, v => v === 'from shared');
    expect(seen).toEqual(['from shared', 'hello', 'hello canary', 'hello again', 'from shared']);
    expect(changes.filter(c => c.key === 'greeting').map(c => [c.type, c.value, c.source])).toEqual(
      [
        ['put', 'hello', '/config/greeting'],
        ['put', 'hello canary', '/config/@canary/greeting'],
        ['put', 'hello again', '/config/greeting'],
        ['put', 'from shared', '/shared/greeting'],
      ],
    );
  });

  it('profiles from ETCD_CONFIG_PROFILES, later profiles win', async () => {
    process.env.ETCD_CONFIG_PROFILES = 'canary, eu';
    try {
      await suite.etcd.put('/config/region', 'base');
      await suite.etcd.put('/config/@canary/region', 'canary');
      await suite.etcd.put('/config/@eu/region', 'eu');
      const app = await boot();
      const config = app.get(EtcdConfigService);
      expect(config.profiles).toEqual(['canary', 'eu']);
      expect(config.get('region')).toBe('eu');
      await suite.etcd.del('/config/@eu/region');
      await waitFor(() => config.get('region') === 'canary');
    } finally {
      delete process.env.ETCD_CONFIG_PROFILES;
    }
  });

  it('@OnConfigChange: once per accepted change, after validation; a throwing or slow handler blocks no one', async () => {
    await suite.etcd.put('/config/typed/db.yaml', 'host: a\nport: 1\n');
    const app = await boot({}, { providers: [Handlers] });
    const handlers = app.get(Handlers);
    let open!: () => void;
    handlers.gate = new Promise<void>(resolve => (open = resolve));

    await suite.etcd.put('/config/typed/db.yaml', 'host: b\nport: 2\n');
    await suite.etcd.put('/config/typed/db.yaml', 'host: c\nport: "not a port"\n'); // rejected: no call
    await suite.etcd.put('/config/typed/db.yaml', 'host: d\nport: 4\n');
    await waitFor(() => handlers.database.length === 2, { message: 'two accepted db changes' });
    expect(handlers.database.map(([value]) => value)).toEqual([
      { host: 'b', port: 2 },
      { host: 'd', port: 4 },
    ]);
    expect(handlers.database[1]![1]).toMatchObject({
      key: 'typed/db.yaml',
      type: 'put',
      source: '/config/typed/db.yaml',
    });

    await suite.etcd.put('/config/hooks/greeting', 'one');
    await suite.etcd.put('/config/hooks/greeting', 'two');
    await waitFor(() => handlers.plain.length === 2, {
      message: 'the plain handler despite a slow one',
    });
    expect(handlers.plain).toEqual(['one', 'two']);
    expect(handlers.thrown).toBe(2);
    expect(handlers.slow).toEqual([]);
    expect(logs.warnings('onGreetingThrows', 'handler failure on purpose')).toHaveLength(2);
    open();
    await waitFor(() => handlers.slow.length === 2, { message: 'the slow handler to catch up' });
    expect(handlers.slow).toEqual(['one', 'two']);

    // A folder handler: one call for a transaction of two keys.
    await suite.etcd.etcdctl(['txn'], {
      input: ['', 'put /config/hooks/folder/a 1', 'put /config/hooks/folder/b 2', '', '', ''].join(
        '\n',
      ),
    });
    await waitFor(() => handlers.folder.length === 1);
    await suite.etcd.put('/config/hooks/folder/a', '3');
    await waitFor(() => handlers.folder.length === 2);
    expect(handlers.folder).toEqual([
      { a: 1, b: 2 },
      { a: 3, b: 2 },
    ]);
  });

  it('history and rollback on etcd revisions; a compacted revision is a named error', async () => {
    await suite.etcd.put('/config/feature', 'v1');
    const r1 = await suite.etcd.revision();
    await suite.etcd.put('/config/feature', 'v2');
    const r2 = await suite.etcd.revision();
    await suite.etcd.del('/config/feature');
    const r3 = await suite.etcd.revision();
    await suite.etcd.put('/config/other', 'noise');
    await suite.etcd.put('/config/feature', '{"v":3}');
    const r4 = await suite.etcd.revision();
    const app = await boot();
    const config = app.get(EtcdConfigService);

    const history = await config.history('feature');
    expect(history).toEqual([
      { value: { v: 3 }, raw: '{"v":3}', revision: r4, version: 1, deleted: false, valid: true },
      { value: undefined, raw: undefined, revision: r3, version: 0, deleted: true, valid: true },
      { value: 'v2', raw: 'v2', revision: r2, version: 2, deleted: false, valid: true },
      { value: 'v1', raw: 'v1', revision: r1, version: 1, deleted: false, valid: true },
    ]);
    expect(await config.history('feature', { limit: 2 })).toEqual(history.slice(0, 2));
    expect(await config.history('never-set')).toEqual([]);

    await config.rollback('feature', r1);
    await waitFor(() => config.get('feature') === 'v1');
    expect(await suite.etcd.get('/config/feature')).toBe('v1');

    await suite.etcd.compact();
    let thrown: unknown;
    try {
      await config.rollback('feature', r2);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigRevisionCompactedError);
    expect((thrown as Error).message).toContain(`Revision ${r2} of config key "feature"`);
    // History stops at the compaction point.
    expect((await config.history('feature')).map(h => h.raw)).toEqual(['v1']);
  });

  it('nestConfig: @nestjs/config ConfigService follows etcd live', async () => {
    await suite.etcd.put('/config/greeting', 'hello');
    const app = await boot(
      { config: { nestConfig: true } },
      { imports: [ConfigModule.forRoot({ ignoreEnvFile: true })] },
    );
    const nestConfig = app.get(ConfigService);
    expect(nestConfig.get('greeting')).toBe('hello');
    await suite.etcd.put('/config/greeting', 'hello again');
    await waitFor(() => nestConfig.get('greeting') === 'hello again', {
      message: '@nestjs/config to follow etcd',
    });
    await suite.etcd.del('/config/greeting');
    await waitFor(() => nestConfig.get('greeting') === undefined);
  });

  it('nestConfig without ConfigModule: boot fails naming @nestjs/config', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [EtcdModule.forRoot({ hosts: suite.etcd.endpoint, config: { nestConfig: true } })],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    try {
      await expect(app.init()).rejects.toThrow(/config\.nestConfig needs .*@nestjs\/config/);
    } finally {
      await app.close();
    }
  });

  it('the snapshot covers layers and folders: an offline boot gets the effective values', async () => {
    const snapshotFile = join(tmp.path, 'layers.snapshot.json');
    const options: EtcdModuleOptions = {
      connectTimeout: 800,
      config: {
        shared: ['/shared/'],
        profiles: ['canary'],
        snapshotFile,
        snapshotDebounce: 10,
      },
    };
    await suite.etcd.put('/shared/timeout', '30');
    await suite.etcd.put('/config/greeting', 'hello');
    await suite.etcd.put('/config/@canary/greeting', 'hello canary');
    await suite.etcd.put('/config/typed/pool/host', 'h');
    await suite.etcd.put('/config/typed/pool/port', '1');
    await suite.etcd.put('/config/typed/pool/pool/max', '2');
    const head = await suite.etcd.revision();
    await boot(options);
    await waitFor(async () => {
      try {
        return (
          (JSON.parse(await readFile(snapshotFile, 'utf8')) as { revision: number }).revision ===
          head
        );
      } catch {
        return false;
      }
    });
    await apps.closeAll();
    await suite.etcd.stop();

    const app = await boot(options, { providers: [TypedSettings] });
    const config = app.get(EtcdConfigService);
    expect(config.get('greeting')).toBe('hello canary');
    expect(config.get('timeout')).toBe(30);
    expect(app.get(TypedSettings).pool.value).toEqual({ host: 'h', port: 1, pool: { max: 2 } });
    expect(logs.warnings('etcd unreachable at boot')).toHaveLength(1);
  });
});
