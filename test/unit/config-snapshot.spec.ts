import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigSnapshotStore, type ConfigSnapshotData } from '../../lib/config/config-snapshot.js';
import { waitFor } from '../support/jest-helpers.js';

const SOURCE = '/tenant/config/';

function valid(overrides: Partial<ConfigSnapshotData> = {}): ConfigSnapshotData {
  return {
    format: 'nest-etcd-config-snapshot',
    version: 1,
    source: SOURCE,
    revision: 12,
    savedAt: '2026-01-01T00:00:00.000Z',
    values: { greeting: 'hi', limits: '{"max":5}' },
    ...overrides,
  };
}

function silenceWarnings() {
  return jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
}

describe('ConfigSnapshotStore', () => {
  let dir: string;
  let warn: ReturnType<typeof silenceWarnings>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nest-etcd-snapshot-'));
    warn = silenceWarnings();
  });
  afterEach(async () => {
    warn.mockRestore();
    await rm(dir, { recursive: true, force: true });
  });

  const warnings = () => warn.mock.calls.map(call => String(call[0]));

  describe('write', () => {
    it('writes values, revision, time and source atomically (no temp file left behind)', async () => {
      const file = join(dir, 'nested', 'dir', 'config.json');
      const store = new ConfigSnapshotStore(file, SOURCE, 0);
      const before = Date.now();
      store.schedule(() => ({ revision: 7, values: { a: '1', b: 'text' } }));
      await store.flush();
      const data = JSON.parse(await readFile(file, 'utf8')) as ConfigSnapshotData;
      expect(data).toMatchObject({
        format: 'nest-etcd-config-snapshot',
        version: 1,
        source: SOURCE,
        revision: 7,
        values: { a: '1', b: 'text' },
      });
      expect(Date.parse(data.savedAt)).toBeGreaterThanOrEqual(before - 1000);
      expect(await readdir(join(dir, 'nested', 'dir'))).toEqual(['config.json']);
      expect(ConfigSnapshotStore.read(file, SOURCE)).toEqual(data);
      expect(warnings()).toEqual([]);
    });

    it('replaces the file by rename: a reader never sees a half-written file', async () => {
      const file = join(dir, 'config.json');
      const store = new ConfigSnapshotStore(file, SOURCE, 0);
      const big: Record<string, string> = {};
      for (let i = 0; i < 2000; i++) big[`key${i}`] = 'v'.repeat(200);
      store.schedule(() => ({ revision: 1, values: { small: 'x' } }));
      await store.flush();
      let reads = 0;
      let torn = 0;
      store.schedule(() => ({ revision: 2, values: big }));
      const writing = store.flush();
      // Read repeatedly while the big write is in flight: always a complete old or new file.
      while (reads < 200) {
        reads++;
        try {
          JSON.parse(await readFile(file, 'utf8'));
        } catch {
          torn++;
        }
      }
      await writing;
      expect(torn).toBe(0);
      expect(ConfigSnapshotStore.read(file, SOURCE)?.revision).toBe(2);
    });

    it('debounces: several changes within the window make one write of the latest state', async () => {
      const file = join(dir, 'config.json');
      const store = new ConfigSnapshotStore(file, SOURCE, 60_000);
      let builds = 0;
      for (let revision = 1; revision <= 5; revision++) {
        store.schedule(() => {
          builds++;
          return { revision, values: { n: String(revision) } };
        });
      }
      // Nothing written yet: the window is a minute long.
      await expect(readFile(file)).rejects.toThrow();
      await store.flush(); // what shutdown does
      expect(builds).toBe(1);
      expect(ConfigSnapshotStore.read(file, SOURCE)).toMatchObject({
        revision: 5,
        values: { n: '5' },
      });
      await store.flush(); // nothing pending: no-op
      expect(builds).toBe(1);
    });

    it('writes after the debounce delay without a flush', async () => {
      const file = join(dir, 'config.json');
      const store = new ConfigSnapshotStore(file, SOURCE, 10);
      store.schedule(() => ({ revision: 3, values: { x: 'y' } }));
      await waitFor(() => ConfigSnapshotStore.read(file, SOURCE), {
        timeout: 5_000,
        interval: 10,
        message: 'the snapshot file was not written after the 10 ms debounce',
      });
      expect(ConfigSnapshotStore.read(file, SOURCE)?.revision).toBe(3);
    });

    it('a failed write is one warning, never a crash, and leaves no temp file', async () => {
      // A regular file where the directory should be: mkdir fails (for root too).
      const blocker = join(dir, 'not-a-dir');
      await writeFile(blocker, 'x');
      const store = new ConfigSnapshotStore(join(blocker, 'config.json'), SOURCE, 0);
      store.schedule(() => ({ revision: 1, values: {} }));
      await store.flush();
      expect(warnings()).toHaveLength(1);
      expect(warnings()[0]).toContain('could not write config snapshot');
      expect(await readdir(dir)).toEqual(['not-a-dir']);
      // The store keeps working once the path is usable again.
      await rm(blocker);
      await mkdir(blocker);
      store.schedule(() => ({ revision: 2, values: { a: 'b' } }));
      await store.flush();
      expect(ConfigSnapshotStore.read(join(blocker, 'config.json'), SOURCE)?.revision).toBe(2);
    });
  });

  describe('read', () => {
    it('a missing file is silently undefined', () => {
      expect(ConfigSnapshotStore.read(join(dir, 'absent.json'), SOURCE)).toBeUndefined();
      expect(warnings()).toEqual([]);
    });

    it.each<[string, string, RegExp]>([
      ['truncated JSON', '{"format":"nest-etcd-config-snapshot","vers', /not valid JSON/],
      ['binary garbage', '\u0000\u00ff\u0001', /not valid JSON/],
      ['a JSON array', '[1,2]', /unknown format|not a snapshot/],
      ['a JSON string', '"hello"', /not a snapshot object/],
      ['another format', JSON.stringify({ ...valid(), format: 'other' }), /unknown format/],
      ['a newer version', JSON.stringify({ ...valid(), version: 2 }), /unknown format/],
      ['another source', JSON.stringify(valid({ source: '/other/' })), /holds "\/other\/"/],
      [
        'no revision',
        JSON.stringify({ ...valid(), revision: 'twelve' }),
        /missing revision or time/,
      ],
      ['no values', JSON.stringify({ ...valid(), values: null }), /missing values/],
      [
        'a non-string value',
        JSON.stringify({ ...valid(), values: { greeting: 5 } }),
        /"greeting" is not a string/,
      ],
    ])('%s: ignored with one warning naming the file', async (_label, content, reason) => {
      const file = join(dir, 'config.json');
      await writeFile(file, content);
      expect(ConfigSnapshotStore.read(file, SOURCE)).toBeUndefined();
      expect(warnings()).toHaveLength(1);
      expect(warnings()[0]).toContain(file);
      expect(warnings()[0]).toMatch(reason);
    });

    it('a directory where the file should be: ignored with one warning', async () => {
      expect(ConfigSnapshotStore.read(dir, SOURCE)).toBeUndefined();
      expect(warnings()).toHaveLength(1);
      expect(warnings()[0]).toMatch(/unreadable/);
    });

    it('accepts a valid file', async () => {
      const file = join(dir, 'config.json');
      await writeFile(file, JSON.stringify(valid()));
      expect(ConfigSnapshotStore.read(file, SOURCE)).toEqual(valid());
      expect(warnings()).toEqual([]);
    });
  });
});
