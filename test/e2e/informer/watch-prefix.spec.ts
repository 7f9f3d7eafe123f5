import 'reflect-metadata';
import type { Etcd3 } from 'etcd3';
import { type Subscription } from 'rxjs';
import {
  EtcdModule,
  EtcdWatchService,
  type EtcdModuleOptions,
  type PrefixUpdate,
} from '../../../lib/index.js';
import { EtcdServer, nextValue, waitFor } from '../../support/index.js';
import { AppTracker, bootApp } from '../../support/config-test-kit.js';
import { TEST_RETRY } from '../../support/nest-apps.js';
import { etcdMetric, writerClient } from '../../support/informer-test-kit.js';

const text = (update: PrefixUpdate) =>
  [...update.snapshot.entries].map(([key, entry]) => [key, entry.value.toString()]).sort();

/** `EtcdWatchService.watchPrefix()`: the public, injectable way to watch any prefix (real etcd). */
describe('EtcdWatchService.watchPrefix (real etcd)', () => {
  let etcd: EtcdServer;
  let writer: Etcd3;
  const apps = new AppTracker();
  const subscriptions: Subscription[] = [];

  beforeAll(async () => {
    etcd = await EtcdServer.start();
    writer = writerClient(etcd.endpoint);
  });
  afterEach(async () => {
    for (const s of subscriptions.splice(0)) s.unsubscribe();
    await apps.closeAll();
  });
  afterAll(async () => {
    writer?.close();
    await etcd?.dispose();
  });

  async function watchService(options: EtcdModuleOptions = {}): Promise<EtcdWatchService> {
    const app = apps.track(
      await bootApp({
        imports: [
          EtcdModule.forRoot({
            hosts: etcd.endpoint,
            retry: TEST_RETRY,
            config: false,
            ...options,
          }),
        ],
      }),
    );
    return app.get(EtcdWatchService);
  }

  /** Subscribes and records every update. */
  function record(updates$: ReturnType<EtcdWatchService['watchPrefix']>): PrefixUpdate[] {
    const seen: PrefixUpdate[] = [];
    subscriptions.push(updates$.subscribe(update => seen.push(update)));
    return seen;
  }

  it('emits the current map first, then one update per batch of changes, in revision order', async () => {
    await writer.put('/flags/a').value('on');
    await writer.put('/flags/b').value('off');
    await writer.put('/other/x').value('not mine');
    const watch = await watchService();
    const seen = record(watch.watchPrefix('/flags/'));
    await waitFor(() => seen.length === 1, { timeout: 10_000, message: 'the initial map' });
    expect(seen[0]!.changes).toEqual([]);
    expect(text(seen[0]!)).toEqual([
      ['/flags/a', 'on'],
      ['/flags/b', 'off'],
    ]);

    const txn = await writer
      .if('/flags/a', 'Value', '==', 'on')
      .then(writer.put('/flags/a').value('off'), writer.put('/flags/c').value('on'))
      .commit();
    await waitFor(() => seen.length === 2, { timeout: 10_000, message: 'the transaction' });
    const revision = Number(txn.header.revision);
    expect(seen[1]!.changes.map(c => [c.type, c.key, c.revision, c.resync])).toEqual([
      ['put', '/flags/a', revision, false],
      ['put', '/flags/c', revision, false],
    ]);
    expect(seen[1]!.snapshot.revision).toBe(revision);
    expect(text(seen[1]!)).toEqual([
      ['/flags/a', 'off'],
      ['/flags/b', 'off'],
      ['/flags/c', 'on'],
    ]);
    // the first map is immutable: later changes never alter it
    expect(text(seen[0]!)).toEqual([
      ['/flags/a', 'on'],
      ['/flags/b', 'off'],
    ]);

    await writer.delete().key('/flags/b').exec();
    await waitFor(() => seen.length === 3, { timeout: 10_000, message: 'the delete' });
    expect(seen[2]!.changes.map(c => [c.type, c.key, c.previous?.value.toString()])).toEqual([
      ['delete', '/flags/b', 'off'],
    ]);
  });

  it('shares one etcd watcher between subscribers and cancels it when the last one leaves', async () => {
    const watch = await watchService();
    const watchers = () => etcdMetric(etcd.clientPort, 'etcd_debugging_mvcc_watcher_total');
    const before = await watchers();
    const updates$ = watch.watchPrefix('/shared/');
    const one = updates$.subscribe();
    const two = updates$.subscribe();
    await nextValue(updates$, () => true, 10_000, 'first /shared/ update');
    await waitFor(async () => (await watchers()) === before + 1, {
      timeout: 10_000,
      message: 'one etcd watcher for two subscribers',
    });
    one.unsubscribe();
    two.unsubscribe();
    await waitFor(async () => (await watchers()) === before, {
      timeout: 10_000,
      message: 'the etcd watcher cancelled after the last unsubscribe',
    });
  });

  it('watches inside the module namespace, and completes when the module shuts down', async () => {
    await writer.put('tenant-a/jobs/1').value('queued');
    await writer.put('/jobs/1').value('outside the namespace');
    const watch = await watchService({ namespace: 'tenant-a' });
    let completed = false;
    const updates$ = watch.watchPrefix('/jobs/');
    subscriptions.push(updates$.subscribe({ complete: () => (completed = true) }));
    const first = await nextValue(
      updates$,
      u => u.snapshot.entries.size > 0,
      10_000,
      'first non-empty /jobs/ update',
    );
    expect(text(first)).toEqual([['/jobs/1', 'queued']]);
    await apps.closeAll();
    expect(completed).toBe(true);
  });

  it('rejects an empty prefix with a clear error', async () => {
    const watch = await watchService();
    expect(() => watch.watchPrefix('')).toThrow(/non-empty prefix/);
  });
});
