import type { Subscription } from 'rxjs';
import { EtcdServer, waitFor } from '../../support/index.js';
import {
  etcdMetric,
  openConnection,
  type TestConnection,
} from '../../support/informer-test-kit.js';

const WATCHERS = 'etcd_debugging_mvcc_watcher_total';
const STREAMS = 'etcd_debugging_mvcc_watch_stream_total';

describe('InformerPool: one informer and one etcd watcher per prefix (real etcd)', () => {
  let etcd: EtcdServer;
  let connection: TestConnection;

  beforeAll(async () => {
    etcd = await EtcdServer.start();
    connection = openConnection(etcd.endpoint);
  });
  afterAll(async () => {
    await connection?.onApplicationShutdown();
    await etcd?.dispose();
  });

  const watchers = () => etcdMetric(etcd.clientPort, WATCHERS);
  const streams = () => etcdMetric(etcd.clientPort, STREAMS);

  it('serves 100 subscribers from one watcher and cancels it with the last one', async () => {
    expect(await watchers()).toBe(0);
    await etcd.put('/shared/a', '1');
    const subscriptions: Subscription[] = [];
    const seen = new Set<number>();
    for (let i = 0; i < 100; i++) {
      subscriptions.push(
        connection.informers
          .observe('/shared/', informer => informer.changes$)
          .subscribe(() => {
            seen.add(i);
          }),
      );
    }
    expect(connection.informers.size).toBe(1);
    const informer = connection.informers.peek('/shared/')!;
    await informer.ready();
    await waitFor(async () => (await watchers()) === 1, { message: 'one etcd watcher' });
    expect(await streams()).toBe(1);

    // Every subscriber gets the change, through the one watcher.
    await etcd.put('/shared/b', '2');
    await waitFor(() => seen.size === 100, { message: 'all 100 subscribers saw the put' });
    expect(await watchers()).toBe(1);

    // Releasing all but one keeps the watcher; the last release cancels it.
    for (const s of subscriptions.slice(1)) s.unsubscribe();
    expect(connection.informers.size).toBe(1);
    expect(await watchers()).toBe(1);
    subscriptions[0]!.unsubscribe();
    expect(connection.informers.size).toBe(0);
    expect(connection.informers.peek('/shared/')).toBeUndefined();
    await waitFor(async () => (await watchers()) === 0, { message: 'the watcher was canceled' });
  });

  it('multiplexes the informers of several prefixes over one watch stream', async () => {
    const handles = ['/p1/', '/p2/', '/p3/'].map(prefix => connection.informers.acquire(prefix));
    const extra = connection.informers.acquire('/p1/');
    try {
      await Promise.all(handles.map(h => h.informer.ready()));
      expect(extra.informer).toBe(handles[0]!.informer);
      await waitFor(async () => (await watchers()) === 3, { message: 'three etcd watchers' });
      expect(await streams()).toBe(1);
      handles[0]!.release();
      // Still held by `extra`.
      await etcd.put('/p1/x', '1');
      await waitFor(() => extra.informer.get('/p1/x')?.value.toString() === '1');
      expect(await watchers()).toBe(3);
    } finally {
      extra.release();
      for (const h of handles) h.release();
    }
    await waitFor(async () => (await watchers()) === 0, { message: 'all watchers canceled' });
    expect(connection.informers.size).toBe(0);
  });

  it('keeps a pinned informer after its last release, until the pool closes', async () => {
    const handle = connection.informers.acquire('/pinned/', { pinned: true });
    await handle.informer.ready();
    handle.release();
    expect(connection.informers.peek('/pinned/')).toBe(handle.informer);
    await waitFor(async () => (await watchers()) === 1);
    await connection.informers.close();
    expect(connection.informers.size).toBe(0);
    await waitFor(async () => (await watchers()) === 0, { message: 'pinned watcher canceled' });
  });
});
