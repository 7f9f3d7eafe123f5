import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { PrefixInformer } from '../../support/internals.js';
import { EtcdServer, nextValue, waitFor } from '../../support/index.js';
import {
  asStrings,
  openConnection,
  sorted,
  type TestConnection,
} from '../../support/informer-test-kit.js';

/**
 * A watch that stays connected but stops delivering (a server-side stall) is only found by the
 * stall check: after `watchStallTimeout` of silence the informer asks etcd whether anything changed
 * that the watch did not deliver, and rebuilds the watch (re-list + diff) when something did.
 */
describe('PrefixInformer stall probe (real etcd)', () => {
  let etcd: EtcdServer;
  let connection: TestConnection | undefined;

  beforeAll(async () => {
    etcd = await EtcdServer.start();
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await connection?.onApplicationShutdown();
    connection = undefined;
  });
  afterAll(async () => {
    await etcd?.dispose();
  });

  async function informerOn(prefix: string, stall: number): Promise<PrefixInformer> {
    connection = openConnection(etcd.endpoint, { watchStallTimeout: stall });
    const informer = connection.informers.acquire(prefix).informer;
    await informer.ready();
    // wait until etcd acknowledged the watch: a put arrives through it
    const first = nextValue(informer.changes$, c => c.key === `${prefix}ready`, 5000);
    await etcd.put(`${prefix}ready`, '1');
    await first;
    return informer;
  }

  /** Makes etcd3's watchers of the connection swallow every event from now on (a silent stall). */
  function silenceWatchers(): void {
    const manager = (connection!.kv as unknown as { watchManager: { watchers: object[] } })
      .watchManager;
    for (const watcher of manager.watchers) {
      const emit = (watcher as { emit: (...args: unknown[]) => boolean }).emit.bind(watcher);
      (watcher as { emit: (...args: unknown[]) => boolean }).emit = (event: unknown, ...rest) =>
        event === 'data' ? true : emit(event, ...rest);
    }
  }

  it('keeps a quiet watch whose cache etcd confirms (no re-list, no disconnect)', async () => {
    const debug = jest.spyOn(Logger.prototype, 'debug');
    const informer = await informerOn('/probe-quiet/', 300);
    const connected: boolean[] = [];
    const sub = informer.connected$.subscribe(c => connected.push(c));
    const confirmations = () =>
      debug.mock.calls.filter(([m]) => /"\/probe-quiet\/" silent .* etcd agrees/.test(String(m)))
        .length;
    await waitFor(() => confirmations() >= 2, { timeout: 10_000, message: 'two confirmations' });
    expect(connected).toEqual([true]);
    sub.unsubscribe();
  });

  it('finds changes a silently stalled watch did not deliver and catches up by re-listing', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const informer = await informerOn('/probe-stalled/', 300);
    await etcd.put('/probe-stalled/a', 'before');
    await waitFor(() => informer.get('/probe-stalled/a')?.value.toString() === 'before');

    silenceWatchers();
    const caught = nextValue(
      informer.changes$,
      c => c.key === '/probe-stalled/b' && c.resync,
      10_000,
    );
    await etcd.put('/probe-stalled/b', 'missed');
    await etcd.put('/probe-stalled/a', 'after');
    const change = await caught;
    expect(change.entry?.value.toString()).toBe('missed');
    expect(
      warn.mock.calls.some(([m]) =>
        /"\/probe-stalled\/" silent .* changes it did not deliver; rebuilding/.test(String(m)),
      ),
    ).toBe(true);
    const inEtcd = await etcd.getPrefix('/probe-stalled/');
    await waitFor(() => informer.get('/probe-stalled/a')?.value.toString() === 'after');
    expect(sorted(asStrings(informer.snapshot.entries))).toEqual(sorted(inEtcd));
  });
});
