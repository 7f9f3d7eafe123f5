import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { EtcdPermissionError } from '../../lib/errors/etcd-permission.error.js';
import { EtcdWatchService, type PrefixUpdate } from '../../lib/watch/etcd-watch.service.js';
import { InformerPool } from '../../lib/watch/informer-pool.js';
import { FakeClock, FakeEtcd, settle } from '../support/fake-informer-port.js';
import { within } from '../support/jest-helpers.js';

/** watchPrefix() against a fake port: the map first, then one update per batch (real etcd: e2e). */
describe('EtcdWatchService (fake port)', () => {
  let etcd: FakeEtcd;
  let pool: InformerPool;
  let watch: EtcdWatchService;

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    etcd = new FakeEtcd();
    pool = new InformerPool(
      etcd,
      { stallTimeout: 1_000, retry: { initialDelay: 100, maxDelay: 1_000 } },
      { clock: new FakeClock(), random: () => 0 },
    );
    watch = new EtcdWatchService(pool);
  });
  afterEach(async () => {
    await pool.close();
    jest.restoreAllMocks();
  });

  const keys = (update: PrefixUpdate | undefined) => [...(update?.snapshot.entries.keys() ?? [])];

  it('emits the map, then the events of one response together, with the snapshot after them', async () => {
    etcd.put('/f/a', '1');
    const seen: PrefixUpdate[] = [];
    let completed = false;
    watch
      .watchPrefix('/f/')
      .subscribe({ next: u => seen.push(u), complete: () => (completed = true) });
    await settle();
    expect(seen).toHaveLength(1);
    expect(seen[0]?.changes).toEqual([]);
    expect(keys(seen[0])).toEqual(['/f/a']);

    const rev = etcd.txn([
      { key: '/f/b', value: '2' },
      { key: '/f/c', value: '3' },
    ]);
    await settle();
    expect(seen).toHaveLength(2);
    expect(seen[1]?.changes.map(c => [c.key, c.revision])).toEqual([
      ['/f/b', rev],
      ['/f/c', rev],
    ]);
    expect(keys(seen[1])).toEqual(['/f/a', '/f/b', '/f/c']);
    expect(keys(seen[0])).toEqual(['/f/a']); // immutable

    await pool.close();
    expect(completed).toBe(true);
  });

  it('errors with EtcdPermissionError when etcd refuses the list', async () => {
    const denied = new EtcdPermissionError('list', '/f/', 'reader');
    etcd.listError = denied;
    const error = await within(
      new Promise(resolve => watch.watchPrefix('/f/').subscribe({ error: resolve })),
      5_000,
      'watchPrefix error after a refused list',
    );
    expect(error).toBe(denied);
  });

  it('refuses an empty prefix', () => {
    expect(() => watch.watchPrefix('')).toThrow(TypeError);
  });
});
