import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ConfigChange,
  EtcdConfigService,
  EtcdConnectionError,
  EtcdRegistryService,
} from '../../lib/index.js';
import { TcpProxy, freePort, nextValue, waitFor, expectDuration } from '../support/index.js';
import {
  FAST_TIMINGS,
  bootApp,
  closeAll,
  pause,
  profile,
  useChaosSuite,
} from '../support/chaos-helpers.js';
import { useTempDir } from '../support/etcd-suite.js';

/**
 * Compaction while a watcher is behind, etcd restarted with its data dir, and etcd down at boot with
 * and without a config snapshot file.
 */

const COMPACTION_ROUNDS = profile(1, 5);

describe('chaos: compaction, restart, boot while etcd is down', () => {
  const suite = useChaosSuite();
  const { logs } = suite;
  const tmp = useTempDir('nest-etcd-chaos-');

  it('a watch whose start revision was compacted away re-lists once and catches up', async () => {
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: suite.etcd.clientPort });
    let app: INestApplication | undefined;
    try {
      await suite.raw.put('/config/compact/base').value('0');
      app = await bootApp({ hosts: proxy.endpoint, ...FAST_TIMINGS });
      const config = app.get(EtcdConfigService);
      const changes: ConfigChange[] = [];
      const sub = config.changes$.subscribe(c => changes.push(c));

      // A broken watch resumes from its revision + 1 rather than re-listing, so the
      // watch is put "behind" a compaction while the app is cut off: writes and a compaction past
      // its revision happen meanwhile, and the resume is answered "compacted".
      let n = 0;
      for (let round = 0; round < COMPACTION_ROUNDS; round++) {
        logs.clear();
        proxy.blackhole();
        await nextValue(config.connected$, c => !c, 15_000);
        for (let i = 0; i < 5; i++) {
          n++;
          await suite.raw.put(`/config/compact/k${n}`).value(String(n));
        }
        await suite.etcd.compact();
        proxy.reset();
        proxy.heal();
        await waitFor(() => config.get(`compact/k${n}`) === n, {
          timeout: 20_000,
          message: `write ${n} made during the compaction never arrived`,
        });
        expect(logs.matching('warn', /was compacted; re-listing/).length).toBeGreaterThan(0);
        await nextValue(config.connected$, c => c, 10_000);
        // no loop and no dead watcher: a later write arrives, and compaction is not hit again
        const warnings = logs.matching('warn', /compacted/).length;
        await suite.raw.put('/config/compact/after').value(`round-${round}`);
        await waitFor(() => config.get('compact/after') === `round-${round}`, {
          timeout: 10_000,
          message: 'watch dead after compaction',
        });
        await pause(1000);
        expect(logs.matching('warn', /compacted/).length).toBe(warnings);
      }
      sub.unsubscribe();
      // every numbered key reached the app exactly once
      const puts = changes.filter(c => c.type === 'put' && /^compact\/k\d+$/.test(c.key));
      expect(puts.map(c => c.key).sort()).toEqual(
        Array.from({ length: n }, (_, i) => `compact/k${i + 1}`).sort(),
      );
    } finally {
      await closeAll([app]);
      await proxy.close();
    }
  });

  it('etcd killed and restarted with its data dir: config resyncs, registration heals', async () => {
    let app: INestApplication | undefined;
    try {
      app = await bootApp({
        hosts: suite.etcd.endpoint,
        ...FAST_TIMINGS,
        registry: {
          serviceName: 'restart',
          instanceId: 'r-1',
          host: '127.0.0.1',
          port: 5200,
          ttl: 3,
        },
      });
      const config = app.get(EtcdConfigService);
      const registry = app.get(EtcdRegistryService);
      await nextValue(registry.status$, s => s === 'registered', 10_000);
      for (let round = 0; round < profile(1, 4); round++) {
        await suite.raw.put('/config/restart/value').value(`before-${round}`);
        await waitFor(() => config.get('restart/value') === `before-${round}`);
        await suite.etcd.kill();
        await nextValue(config.connected$, c => !c, 20_000);
        expect(config.get('restart/value')).toBe(`before-${round}`); // served while down
        await suite.etcd.restart();
        await suite.raw.put('/config/restart/value').value(`after-${round}`);
        await waitFor(() => config.get('restart/value') === `after-${round}`, {
          timeout: 30_000,
          message: 'no resync after restart',
        });
        await nextValue(config.connected$, c => c, 20_000);
        await nextValue(registry.status$, s => s === 'registered', 30_000);
        await waitFor(
          async () => (await suite.raw.get('/services/restart/r-1').string()) !== null,
          {
            timeout: 20_000,
            message: 'registration key missing after restart',
          },
        );
      }
    } finally {
      await closeAll([app]);
    }
    expect(await suite.raw.get('/services/restart/r-1').string()).toBeNull();
  });

  it('etcd down at boot without a snapshot: EtcdConnectionError naming the host', async () => {
    const port = await freePort();
    const started = Date.now();
    const boot = bootApp({ hosts: `http://127.0.0.1:${port}`, connectTimeout: 1500 });
    await expect(boot).rejects.toBeInstanceOf(EtcdConnectionError);
    await expect(boot).rejects.toThrow(`127.0.0.1:${port}`);
    expectDuration(Date.now() - started, 30_000, 'boot against a dead port (bounded, not a hang)');
  });

  it('etcd down at boot with a snapshot: boots from it, then resyncs', async () => {
    const snapshotFile = join(tmp.path, 'config.snapshot.json');
    await suite.raw.put('/config/snap/greeting').value('from-snapshot');
    let first: INestApplication | undefined;
    try {
      first = await bootApp({
        hosts: suite.etcd.endpoint,
        ...FAST_TIMINGS,
        config: { snapshotFile, snapshotDebounce: 0 },
      });
      await waitFor(
        async () =>
          existsSync(snapshotFile) &&
          (await readFile(snapshotFile, 'utf8')).includes('from-snapshot'),
        { message: 'snapshot file not written' },
      );
    } finally {
      await closeAll([first]);
    }
    // etcd moves on, then goes down; the snapshot holds the older value
    await suite.raw.put('/config/snap/greeting').value('from-etcd');
    await suite.etcd.kill();
    logs.clear();
    let app: INestApplication | undefined;
    try {
      app = await bootApp({
        hosts: suite.etcd.endpoint,
        ...FAST_TIMINGS,
        connectTimeout: 1500,
        config: { snapshotFile, snapshotDebounce: 0 },
      });
      const config = app.get(EtcdConfigService);
      expect(config.get('snap/greeting')).toBe('from-snapshot');
      expect(logs.matching('warn', /snapshot/).length).toBeGreaterThan(0);
      await suite.etcd.restart();
      await waitFor(() => config.get('snap/greeting') === 'from-etcd', {
        timeout: 30_000,
        message: 'no resync after etcd came back',
      });
      await nextValue(config.connected$, c => c, 10_000);
    } finally {
      if (!suite.etcd.running) await suite.etcd.restart();
      await closeAll([app]);
    }
  });
});
