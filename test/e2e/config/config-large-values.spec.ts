import { jest } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import {
  EtcdConfigService,
  EtcdModule,
  EtcdRegistryService,
  InjectConfig,
  type ConfigStatus,
  type ConfigValue,
  type RegistryStatus,
} from '../../../lib/index.js';
import { bootApp, useConfigSuite } from '../../support/config-test-kit.js';
import { YamlWorker } from '../../support/internals.js';
import { firstValueFrom, toArray } from 'rxjs';
import { EtcdAdmin } from '../../../lib/admin/index.js';
import { expectDuration, nextValue, waitFor } from '../../support/jest-helpers.js';
import { TEST_RETRY } from '../../support/nest-apps.js';
import { worstLoopBlock, yamlDocument } from '../../support/yaml-documents.js';

/**
 * A large YAML value never blocks the app (it is decoded when read, a large YAML document
 * off the event loop), a value over `config.maxValueBytes` is rejected with one line, and an alias
 * bomb is rejected without blocking either.
 */

const PREFIX = '/large/';
const DOCUMENT = 'catalog.yaml';
/** etcd's default request limit is 1.5 MiB: a legal value just under it. */
const DOCUMENT_BYTES = 1.4 * 1024 * 1024;
/**
 * The worst event-loop block allowed while large values arrive and are read, above the harness's own
 * (see {@link harnessBlock}). Before the fix one 1.4 MiB YAML value blocked the loop for 2.9-4.5 s
 * (parsed on arrival, on the loop). Now the loop pays for receiving the value from etcd and the
 * parsed document from the worker (≈ 10-30 ms). What else stalls this process is not the config
 * path: the scheduler on a machine whose cores are shared with other jobs, etcdctl children forked
 * from a large jest process and its GC (one run in band beside a CPU burner measured 2.2 s). The
 * bench reports the figures; this bound only catches a parse back on the loop.
 */
const WORST_BLOCK_MS = 1000;
/** A key no `@InjectConfig` in this process names: nothing reads it as it changes. */
const UNREAD = 'unread.yaml';

/** An alias bomb: a 0.3 MiB anchored map and 99 aliases to it. */
function aliasBomb(): string {
  const lines = ['base: &a'];
  let size = 0;
  for (let i = 0; size < 300 * 1024; i++) {
    const line = `  k${i}: value-${i}-xxxxxxxxxxxxxxxx`;
    lines.push(line);
    size += line.length + 1;
  }
  for (let j = 0; j < 99; j++) lines.push(`c${j}: *a`);
  return `${lines.join('\n')}\n`;
}

@Injectable()
class CatalogReader {
  constructor(
    @InjectConfig(DOCUMENT) readonly catalog: ConfigValue<{ marker?: string } | undefined>,
  ) {}
}

/**
 * The harness's own worst block: the same eight 1.4 MiB puts under a prefix no app watches, measured
 * in the same test just before (etcdctl children, GC, the scheduler).
 */
async function harnessBlock(put: (key: string, value: string) => Promise<void>): Promise<number> {
  const value = yamlDocument('baseline', DOCUMENT_BYTES);
  return worstLoopBlock(async () => {
    for (let i = 0; i < 8; i++) await put(`/large-baseline/${i}.yaml`, value);
  });
}

/** The loop's worst block while values arrived, bounded above the harness's own. */
function expectLoopFree(worst: number, harness: number, what: string): void {
  expectDuration(
    worst,
    WORST_BLOCK_MS + harness,
    `the event loop's worst block while ${what} (the harness alone: ${Math.round(harness)} ms)`,
  );
}

describe('large config values', () => {
  const suite = useConfigSuite({ clearPrefix: PREFIX, captureLogs: true });

  async function boot(options: { maxValueBytes?: number; reader?: boolean; serviceName: string }) {
    return suite.apps.track(
      await bootApp({
        imports: [
          EtcdModule.forRoot({
            hosts: suite.etcd.endpoint,
            retry: TEST_RETRY,
            config: { prefix: PREFIX, maxValueBytes: options.maxValueBytes },
            registry: { serviceName: options.serviceName, host: '127.0.0.1', port: 1, ttl: 5 },
          }),
        ],
        providers: options.reader ? [CatalogReader] : [],
      }),
    );
  }

  it('eight 1.4 MiB YAML puts in a row, read by a ConfigValue: the loop never blocks, the ttl-5 registration holds, the last one is served', async () => {
    await suite.etcd.put(`${PREFIX}${DOCUMENT}`, yamlDocument('m0', DOCUMENT_BYTES));
    const app = await boot({ maxValueBytes: 2 * 1024 * 1024, reader: true, serviceName: 'big' });
    const catalog = app.get(CatalogReader).catalog;
    expect(catalog.value?.marker).toBe('m0'); // decoded (off the loop) before the constructors ran
    const registry = app.get(EtcdRegistryService);
    const statuses: RegistryStatus[] = [];
    suite.subscriptions.push(registry.status$.subscribe(status => statuses.push(status)));
    const documents = Array.from({ length: 8 }, (_, i) =>
      yamlDocument(`m${i + 1}`, DOCUMENT_BYTES),
    );

    const harness = await harnessBlock((key, value) => suite.etcd.put(key, value));
    const worst = await worstLoopBlock(async () => {
      for (const document of documents) await suite.etcd.put(`${PREFIX}${DOCUMENT}`, document);
      await nextValue(
        catalog,
        value => value?.marker === 'm8',
        30_000,
        'the last 1.4 MiB document to be served',
      );
    });

    expectLoopFree(worst, harness, 'eight 1.4 MiB documents a ConfigValue reads arrived');
    expect(statuses.filter(status => status !== 'registered')).toEqual([]);
    expect(registry.status).toBe('registered');
    expect(await suite.etcd.get(`/services/big/${registry.self!.instanceId}`)).toBeDefined();
    expect(suite.logs.warnings(`"${DOCUMENT}"`)).toEqual([]);
  });

  it('unread 1.4 MiB YAML values are never decoded on arrival; a get() serves the value once parsed off the loop', async () => {
    const app = await boot({ maxValueBytes: 2 * 1024 * 1024, serviceName: 'unread' });
    const config = app.get(EtcdConfigService);
    const registry = app.get(EtcdRegistryService);
    const statuses: RegistryStatus[] = [];
    suite.subscriptions.push(registry.status$.subscribe(status => statuses.push(status)));
    const harness = await harnessBlock((key, value) => suite.etcd.put(key, value));
    const worst = await worstLoopBlock(async () => {
      for (let i = 1; i <= 8; i++) {
        await suite.etcd.put(`${PREFIX}${UNREAD}`, yamlDocument(`u${i}`, DOCUMENT_BYTES));
      }
      await waitFor(() => config.get<{ marker?: string }>(UNREAD)?.marker === 'u8', {
        message: 'the document to be served when read',
        timeout: 30_000,
      });
    });
    expectLoopFree(worst, harness, 'eight unread 1.4 MiB documents arrived, read once at the end');
    expect(statuses.filter(status => status !== 'registered')).toEqual([]);

    // Not decoded on arrival: an invalid document is rejected (one line) only when read.
    await suite.etcd.put(`${PREFIX}${UNREAD}`, 'marker: [unclosed\n');
    const revision = await suite.etcd.revision();
    await waitFor(() => config.currentRevision >= revision, {
      message: 'the invalid document to arrive',
    });
    expect(suite.logs.warnings(`"${UNREAD}"`)).toEqual([]);
    expect(config.get<{ marker?: string }>(UNREAD)?.marker).toBe('u8'); // last good value kept
    expect(suite.logs.warnings(`"${UNREAD}"`)).toEqual([
      expect.stringContaining(`revision ${revision} rejected: invalid YAML document`),
    ]);
  });

  it('the status reports an unread 1.4 MiB YAML value without handing the document to the event loop: applied when valid, rejected when not', async () => {
    const parses = jest.spyOn(YamlWorker.prototype, 'decode');
    const app = await boot({ maxValueBytes: 2 * 1024 * 1024, serviceName: 'status' });
    const config = app.get(EtcdConfigService);
    const registry = app.get(EtcdRegistryService);
    await nextValue(registry.status$, status => status === 'registered', 10_000);
    const statusKey = `/config-status/status/${registry.self!.instanceId}`;
    const statusOf = async (revision: number) =>
      waitFor(
        async () => {
          const text = await suite.etcd.get(statusKey);
          const status = text ? (JSON.parse(text) as ConfigStatus) : undefined;
          const key = status?.keys[UNREAD];
          const decided = key?.revision === revision || key?.rejectedRevision === revision;
          return decided && status!.revision >= revision ? status : undefined;
        },
        { timeout: 30_000, message: `the status to report ${UNREAD} at revision ${revision}` },
      );

    await suite.etcd.put(`${PREFIX}${UNREAD}`, yamlDocument('s1', DOCUMENT_BYTES));
    const good = await suite.etcd.modRevision(`${PREFIX}${UNREAD}`);
    expect((await statusOf(good))!.keys[UNREAD]).toMatchObject({
      revision: good,
      source: `${PREFIX}${UNREAD}`,
      state: 'applied',
    });
    // Checked in the worker, never handed back (before: parsed and copied back for the status).
    expect(parses.mock.calls.length).toBeGreaterThan(0);
    expect(parses.mock.calls.map(call => call[2])).toEqual(parses.mock.calls.map(() => false));

    const broken = `${yamlDocument('s2', DOCUMENT_BYTES)}tail: [unclosed\n`;
    await suite.etcd.put(`${PREFIX}${UNREAD}`, broken);
    const bad = await suite.etcd.modRevision(`${PREFIX}${UNREAD}`);
    expect((await statusOf(bad))!.keys[UNREAD]).toMatchObject({
      revision: good,
      state: 'rejected',
      rejectedRevision: bad,
      reason: expect.stringContaining('invalid YAML document'),
    });
    expect(suite.logs.warnings(`"${UNREAD}"`)).toEqual([
      expect.stringContaining(`revision ${bad} rejected: invalid YAML document`),
    ]);
    // The revision kept is parsed to be served (a rejection keeps a decoded value), then read.
    await waitFor(() => config.get<{ marker?: string }>(UNREAD)?.marker === 's1', {
      message: 'the last valid document to be served when read',
      timeout: 30_000,
    });
    parses.mockRestore();
  });

  it('a rollout of a broken 1.4 MiB YAML value to a key nobody reads ends rejected, not applied (the status waits for the check off the loop)', async () => {
    await suite.etcd.put(`${PREFIX}${UNREAD}`, yamlDocument('w1', DOCUMENT_BYTES));
    const app = await boot({ maxValueBytes: 2 * 1024 * 1024, serviceName: 'rollout' });
    const registry = app.get(EtcdRegistryService);
    await nextValue(registry.status$, status => status === 'registered', 10_000);
    const statusKey = `/config-status/rollout/${registry.self!.instanceId}`;
    await waitFor(
      async () => {
        const text = await suite.etcd.get(statusKey);
        return text && (JSON.parse(text) as ConfigStatus).keys[UNREAD]?.state === 'applied';
      },
      { timeout: 30_000, message: `the status to report ${UNREAD} applied before the rollout` },
    );
    const admin = await EtcdAdmin.connect({ hosts: suite.etcd.endpoint, actor: 'tester' });
    try {
      await suite.etcd.put(`${PREFIX}${UNREAD}`, `${yamlDocument('w2', DOCUMENT_BYTES)}x: [\n`);
      const bad = await suite.etcd.modRevision(`${PREFIX}${UNREAD}`);
      const events = await firstValueFrom(
        admin.rollout$('rollout', `${PREFIX}${UNREAD}`, bad, { timeoutMs: 30_000 }).pipe(toArray()),
      );
      // Before: the status never listed the unread document (not rewritten after its off-loop
      // parse), so the rollout could not follow it.
      expect(events).toEqual([
        expect.objectContaining({
          instanceId: registry.self!.instanceId,
          state: 'rejected',
          reason: expect.stringContaining('invalid YAML document'),
        }),
      ]);
    } finally {
      await admin.close();
    }
  });

  it('a value over config.maxValueBytes is rejected with one line naming the key and the limit; the last good value is kept', async () => {
    await suite.etcd.put(`${PREFIX}${DOCUMENT}`, 'marker: small\n');
    const app = await boot({ reader: true, serviceName: 'capped' }); // default: 1 MiB
    const catalog = app.get(CatalogReader).catalog;
    expect(catalog.value?.marker).toBe('small');
    await suite.etcd.put(`${PREFIX}${DOCUMENT}`, yamlDocument('huge', DOCUMENT_BYTES));
    // the put's own revision (the app's status or registration writes may follow it at once)
    const revision = await suite.etcd.modRevision(`${PREFIX}${DOCUMENT}`);
    await waitFor(() => suite.logs.warnings(`"${DOCUMENT}"`).length > 0, {
      message: 'the oversized value to be rejected',
      timeout: 30_000,
    });
    expect(suite.logs.warnings(`"${DOCUMENT}"`)).toEqual([
      expect.stringMatching(
        new RegExp(
          `revision ${revision} rejected: value is \\d+ bytes, more than config\\.maxValueBytes \\(1048576\\); keeping the value of revision \\d+$`,
        ),
      ),
    ]);
    expect(catalog.value?.marker).toBe('small');
    expect(app.get(EtcdConfigService).get(DOCUMENT)).toEqual({ marker: 'small' });
  });

  it('an alias bomb (0.3 MiB, 99 aliases) is rejected without blocking the loop', async () => {
    await suite.etcd.put(`${PREFIX}${DOCUMENT}`, 'marker: before\n');
    const app = await boot({ reader: true, serviceName: 'bomb' });
    const catalog = app.get(CatalogReader).catalog;
    const harness = await harnessBlock((key, value) => suite.etcd.put(key, value));
    const worst = await worstLoopBlock(async () => {
      await suite.etcd.put(`${PREFIX}${DOCUMENT}`, aliasBomb());
      await waitFor(() => suite.logs.warnings(`"${DOCUMENT}"`).length > 0, {
        message: 'the alias bomb to be rejected',
        timeout: 30_000,
      });
    });
    expectLoopFree(worst, harness, 'the alias bomb was parsed');
    expect(suite.logs.warnings(`"${DOCUMENT}"`)[0]).toMatch(
      /rejected: invalid YAML document: its aliases expand \d+ nodes to \d+ .*keeping the value of revision/,
    );
    expect(catalog.value?.marker).toBe('before');
  });
});
