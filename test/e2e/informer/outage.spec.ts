import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { PrefixChange } from '../../../lib/index.js';
import { EtcdServer, TcpProxy, nextValue, waitFor } from '../../support/index.js';
import {
  ChangeLog,
  asStrings,
  caughtUp,
  connectedIs,
  openConnection,
  sorted,
  type TestConnection,
} from '../../support/informer-test-kit.js';

const summary = (changes: readonly PrefixChange[]) =>
  changes.map(c => [c.type, c.key, c.entry?.value.toString(), c.resync]);

describe('PrefixInformer across outages (real etcd)', () => {
  let etcd: EtcdServer;
  let proxy: TcpProxy;
  let connection: TestConnection | undefined;

  beforeAll(async () => {
    etcd = await EtcdServer.start();
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: etcd.clientPort });
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    proxy.heal();
    await connection?.onApplicationShutdown();
    connection = undefined;
    if (!etcd.running) await etcd.restart();
  });
  afterAll(async () => {
    await proxy?.close();
    await etcd?.dispose();
  });

  async function informerOn(prefix: string, hosts: string, stall?: number) {
    connection = openConnection(hosts, { watchStallTimeout: stall });
    const informer = connection.informers.acquire(prefix).informer;
    await informer.ready();
    return informer;
  }

  // Recovery is a resume (a watch from the last applied revision + 1), so the missed
  // writes arrive as etcd replays them, as ordinary changes (resync: false), not from a re-list.
  it('after kill -9 and restart, resumes and emits exactly the writes it missed, in order', async () => {
    for (const k of ['a', 'b', 'c']) await etcd.put(`/kill/${k}`, '1');
    const informer = await informerOn('/kill/', proxy.endpoint);
    const log = new ChangeLog(informer);

    // Cut the informer off first, so nothing written below can reach it before heal().
    proxy.blackhole();
    await etcd.kill();
    await connectedIs(informer, false);
    await etcd.restart();
    await etcd.put('/kill/a', '2');
    await etcd.put('/kill/d', '1');
    await etcd.del('/kill/b');
    const lastUnderPrefix = await etcd.revision();
    await etcd.put('/other/x', 'not watched');
    // Still cut off: the old map is served.
    expect(informer.state.connected).toBe(false);
    expect(sorted(asStrings(informer.snapshot.entries))).toEqual([
      ['/kill/a', '1'],
      ['/kill/b', '1'],
      ['/kill/c', '1'],
    ]);
    expect(log.changes).toEqual([]);

    proxy.reset();
    proxy.heal();
    // A resumed watch's revision is that of the last event under its prefix.
    await caughtUp(informer, lastUnderPrefix);
    expect(summary(log.changes)).toEqual([
      ['put', '/kill/a', '2', false],
      ['put', '/kill/d', '1', false],
      ['delete', '/kill/b', undefined, false],
    ]);
    expect(sorted(asStrings(informer.snapshot.entries))).toEqual(
      sorted(await etcd.getPrefix('/kill/')),
    );

    // And it watches again.
    const next = nextValue(informer.changes$, c => c.key === '/kill/e');
    await etcd.put('/kill/e', '1');
    expect(summary([await next])).toEqual([['put', '/kill/e', '1', false]]);
    log.close();
  });

  it('never empties its snapshot while etcd is down, and reports connected$', async () => {
    for (const k of ['a', 'b']) await etcd.put(`/down/${k}`, '1');
    const informer = await informerOn('/down/', etcd.endpoint);
    const log = new ChangeLog(informer);
    const sizes: number[] = [];
    const connected: boolean[] = [];
    const sizeSub = informer.state$.subscribe(() => sizes.push(informer.snapshot.entries.size));
    const connectedSub = informer.connected$.subscribe(c => connected.push(c));
    const revision = informer.snapshot.revision;

    await etcd.kill();
    await connectedIs(informer, false);
    // Failed resumes while etcd is gone.
    await waitFor(() => /watch stream broke/.test(informer.state.reason ?? ''), {
      timeout: 15_000,
    });
    expect(informer.lastError).toBeDefined();
    expect(informer.snapshot.revision).toBe(revision);
    expect(sorted(asStrings(informer.snapshot.entries))).toEqual([
      ['/down/a', '1'],
      ['/down/b', '1'],
    ]);

    await etcd.restart();
    await connectedIs(informer, true);
    expect(connected).toEqual([true, false, true]);
    expect(sizes.every(n => n === 2)).toBe(true);
    expect(log.changes).toEqual([]);
    expect(informer.lastError).toBeUndefined();
    sizeSub.unsubscribe();
    connectedSub.unsubscribe();
    log.close();
  });

  it('a link reset again and again is named once as unstable, not warned per drop; nothing is missed', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const informer = await informerOn('/flap/', proxy.endpoint);
    const drops = 5;
    for (let i = 0; i < drops; i++) {
      proxy.reset();
      await connectedIs(informer, false);
      // Written while the informer is cut off: it must arrive through the re-list.
      await etcd.put(`/flap/k${i}`, String(i));
      await waitFor(() => informer.state.connected && informer.get(`/flap/k${i}`) !== undefined, {
        timeout: 15_000,
        message: `informer reconnected with /flap/k${i}`,
      });
    }
    expect(sorted(asStrings(informer.snapshot.entries))).toEqual(
      Array.from({ length: drops }, (_, i) => [`/flap/k${i}`, String(i)]),
    );
    const lost = warn.mock.calls
      .map(call => String(call[0]))
      .filter(line => line.startsWith('watch on "/flap/" lost'));
    expect(lost).toHaveLength(2);
    expect(lost[1]).toMatch(/lost again \d+ s after it recovered .*unstable/);
  });

  it('treats a silent stream as broken: connected$ false while blackholed, converges after heal', async () => {
    await etcd.put('/stall/a', '1');
    const informer = await informerOn('/stall/', proxy.endpoint, 1_000);
    const log = new ChangeLog(informer);

    proxy.blackhole();
    await etcd.put('/stall/b', '1');
    await nextValue(informer.connected$, c => !c, 15_000);
    expect(informer.state.reason).toMatch(/list failed/);
    expect(sorted(asStrings(informer.snapshot.entries))).toEqual([['/stall/a', '1']]);

    proxy.heal();
    await caughtUp(informer, await etcd.revision(), 30_000);
    expect(summary(log.changes)).toEqual([['put', '/stall/b', '1', true]]);
    const next = nextValue(informer.changes$, c => c.key === '/stall/c');
    await etcd.put('/stall/c', '1');
    expect((await next).resync).toBe(false);
    log.close();
  }, 120_000); // above its longest waits (30 s, stretched to 45 s when loaded) plus the rest

  it('rebuilds a quiet watch after the stall bound without reporting a disconnect', async () => {
    const debug = jest.spyOn(Logger.prototype, 'debug');
    const informer = await informerOn('/quiet/', etcd.endpoint, 500);
    const connected: boolean[] = [];
    const sub = informer.connected$.subscribe(c => connected.push(c));
    const rebuilds = () =>
      debug.mock.calls.filter(([m]) => String(m).includes('"/quiet/" silent for over')).length;
    await waitFor(() => rebuilds() >= 3, { timeout: 15_000, message: 'three quiet rebuilds' });
    expect(connected).toEqual([true]);
    const next = nextValue(informer.changes$);
    await etcd.put('/quiet/a', '1');
    expect((await next).key).toBe('/quiet/a');
    sub.unsubscribe();
  });

  it('recovers from a watch canceled by compaction: re-lists, diffs, keeps watching', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    for (const k of ['a', 'b']) await etcd.put(`/compact/${k}`, '1');
    const informer = await informerOn('/compact/', proxy.endpoint);
    // A second informer on the same stream: cancelling a watch etcd already canceled would make
    // etcd3 throw from its stream handler while other watchers share the stream.
    const neighbour = connection!.informers.acquire('/neighbour/').informer;
    await neighbour.ready();
    const log = new ChangeLog(informer);

    // Cut off; write and compact past the informer's revision.
    proxy.blackhole();
    proxy.reset();
    await connectedIs(informer, false);
    await etcd.put('/compact/a', '2');
    await etcd.del('/compact/b');
    await etcd.compact();

    // Heal with latency: the re-list goes through, then - while the new watch's create request
    // is still in flight - more writes and a compaction past the list revision. etcd cancels the
    // new watch for compaction.
    proxy.reset();
    proxy.heal();
    proxy.setLatency(800);
    await connectedIs(informer, true);
    const listed = informer.snapshot.revision;
    await etcd.put('/compact/c', '1');
    await etcd.put('/compact/e', '1');
    await etcd.compact();
    // The watch starts at listed + 1, now below the compaction revision.
    expect(await etcd.revision()).toBeGreaterThan(listed + 1);

    await caughtUp(informer, await etcd.revision(), 30_000);
    // One warning per outage for the watches etcd compacted meanwhile (this one or its neighbour,
    // whichever etcd answered first), not one per watch.
    await waitFor(() =>
      warn.mock.calls.some(([m]) => /from revision \d+ was compacted; re-listing/.test(String(m))),
    );
    proxy.setLatency(0);
    // The resume from the compacted revision is answered by re-lists (one or two, depending on
    // when the compaction lands against the new watch): every missed change is found, as a resync.
    expect(summary(log.changes)).toHaveLength(4);
    expect(summary(log.changes)).toEqual(
      expect.arrayContaining([
        ['put', '/compact/a', '2', true],
        ['delete', '/compact/b', undefined, true],
        ['put', '/compact/c', '1', true],
        ['put', '/compact/e', '1', true],
      ]),
    );
    expect(sorted(asStrings(informer.snapshot.entries))).toEqual(
      sorted(await etcd.getPrefix('/compact/')),
    );

    // Still watching, not dead and not looping.
    const next = nextValue(informer.changes$, c => c.key === '/compact/d');
    await etcd.put('/compact/d', '1');
    expect(summary([await next])).toEqual([['put', '/compact/d', '1', false]]);
    const neighbourNext = nextValue(neighbour.changes$);
    await etcd.put('/neighbour/x', '1');
    expect((await neighbourNext).key).toBe('/neighbour/x');
    log.close();
  }, 120_000); // above its longest waits (30 s, stretched to 45 s when loaded) plus the rest
});
