import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { config as rxjsConfig } from 'rxjs';
import { EtcdPermissionError } from '../../lib/errors/etcd-permission.error.js';
import type {
  InformerChange,
  InformerEntry,
  InformerEntryTransform,
  InformerOptions,
  InformerViewEvent,
} from '../../lib/watch/informer.interfaces.js';
import { SETTLED, SYNCED } from '../../lib/watch/informer.interfaces.js';
import { PrefixInformer } from '../../lib/watch/prefix-informer.js';
import { FakeClock, FakeEtcd, settle } from '../support/fake-informer-port.js';
import { within } from '../support/jest-helpers.js';
import { seededRandom } from '../support/random.js';

/**
 * The informer's engine against a fake port and a fake clock (no etcd, no real time). The wiring to
 * etcd itself is proven by test/e2e/informer/.
 */

const OPTIONS: InformerOptions = {
  stallTimeout: 1_000,
  retry: { initialDelay: 100, maxDelay: 1_000 },
};

const summary = (changes: readonly InformerChange[]) =>
  changes.map(c => [c.type, c.key, c.entry?.value.toString(), c.revision, c.resync]);

const values = (informer: PrefixInformer) =>
  new Map([...informer.snapshot.entries].map(([k, e]) => [k, e.value.toString()]));

describe('PrefixInformer (fake port)', () => {
  let etcd: FakeEtcd;
  let clock: FakeClock;
  let informer: PrefixInformer;
  let changes: InformerChange[];

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
    etcd = new FakeEtcd();
    clock = new FakeClock();
  });
  afterEach(async () => {
    await informer?.stop();
    jest.restoreAllMocks();
  });

  /** Starts an informer on `prefix` (lowest jitter: each backoff is half its base). */
  async function start(prefix = '/p/', options = OPTIONS): Promise<PrefixInformer> {
    informer = new PrefixInformer(etcd, prefix, options, { clock, random: () => 0 });
    changes = [];
    informer.changes$.subscribe(c => changes.push(c));
    informer.start();
    await settle();
    return informer;
  }

  describe('list, then watch from R + 1', () => {
    it('lists every page at the first page revision, then watches from R + 1 without a gap', async () => {
      for (const k of ['a', 'b', 'c', 'd', 'e']) etcd.put(`/p/${k}`, '1');
      etcd.put('/other/x', 'not mine');
      const listRevision = etcd.revision;
      // A writer races the list: changes made between pages are not in the list, but arrive
      // through the watch, in order.
      let page = 0;
      etcd.beforePage = () => {
        if (page++ === 1) {
          etcd.put('/p/a', '2');
          etcd.del('/p/e');
          etcd.put('/p/f', '1');
        }
      };
      await start();
      await informer.ready();

      expect(etcd.lists.length).toBe(3);
      expect(etcd.lists.slice(1).every(l => l.revision === listRevision)).toBe(true);
      expect(etcd.watches[0]?.startRevision).toBe(listRevision + 1);
      expect(summary(changes)).toEqual([
        ['put', '/p/a', '2', listRevision + 1, false],
        ['delete', '/p/e', undefined, listRevision + 2, false],
        ['put', '/p/f', '1', listRevision + 3, false],
      ]);
      expect(values(informer)).toEqual(etcd.contents('/p/'));
      expect(informer.snapshot.revision).toBe(etcd.revision);
    });

    it('applies every event of one revision (a transaction, a range delete), in order', async () => {
      await start();
      await informer.ready();
      const txn = etcd.txn([
        { key: '/p/a', value: '1' },
        { key: '/p/b', value: '2' },
        { key: '/other/c', value: '3' },
      ]);
      const del = etcd.txn([{ key: '/p/a' }, { key: '/p/b' }]);
      expect(summary(changes)).toEqual([
        ['put', '/p/a', '1', txn, false],
        ['put', '/p/b', '2', txn, false],
        ['delete', '/p/a', undefined, del, false],
        ['delete', '/p/b', undefined, del, false],
      ]);
      expect(changes[2]?.previous?.value.toString()).toBe('1');
      expect(informer.size).toBe(0);
      expect(informer.snapshot.revision).toBe(del);
    });

    it('drops a replayed event older than what was applied (revisions never go back)', async () => {
      await start();
      await informer.ready();
      const first = etcd.put('/p/a', '1');
      etcd.put('/p/a', '2');
      const entry = Object.freeze({
        key: '/p/a',
        value: Buffer.from('1'),
        modRevision: first,
        createRevision: first,
        version: 1,
        lease: '0',
      });
      etcd.liveWatches()[0]!.listener.events([{ type: 'put', entry }]);
      expect(summary(changes).map(c => c[3])).toEqual([first, first + 1]);
      expect(informer.get('/p/a')?.value.toString()).toBe('2');
    });

    it('hands out frozen snapshots that later changes never alter', async () => {
      etcd.put('/p/x', '1');
      await start();
      await informer.ready();
      const before = informer.snapshot;
      expect(informer.snapshot).toBe(before); // copied once per change, not per read
      etcd.put('/p/y', '2');
      expect([...before.entries.keys()]).toEqual(['/p/x']);
      expect([...informer.snapshot.entries.keys()]).toEqual(['/p/x', '/p/y']);
      expect(Object.isFrozen(before)).toBe(true);
    });
  });

  describe('view$ (wait until synced, then follow changes)', () => {
    const seen = (events: InformerViewEvent[]) =>
      events.map(e => (e === SYNCED || e === SETTLED ? e : [e.type, e.key, e.resync]));

    it('emits synced once the first list is in the map, then each change and the end of each batch, never synced again', async () => {
      etcd.put('/p/a', '1');
      informer = new PrefixInformer(etcd, '/p/', OPTIONS, { clock, random: () => 0 });
      const early: InformerViewEvent[] = [];
      let mapAtSynced: Map<string, string> | undefined;
      let completed = false;
      informer.view$.subscribe({
        next: event => {
          if (event === SYNCED) mapAtSynced = values(informer);
          early.push(event);
        },
        complete: () => (completed = true),
      });
      expect(early).toEqual([]); // nothing before the first list
      informer.start();
      await informer.ready();
      await settle(); // the watch is up
      expect(mapAtSynced).toEqual(new Map([['/p/a', '1']]));
      etcd.put('/p/b', '2');
      etcd.breakStream();
      etcd.delivering = false; // missed while the stream is down: replayed by the resume
      etcd.put('/p/c', '3');
      etcd.delivering = true;
      await settle();
      await clock.advance(1_000);
      await settle();
      expect(seen(early)).toEqual([
        SYNCED,
        ['put', '/p/b', false],
        SETTLED,
        ['put', '/p/c', false],
        SETTLED,
      ]);

      const late: InformerViewEvent[] = [];
      informer.view$.subscribe(event => late.push(event));
      expect(late).toEqual([SYNCED]); // already synced: at once
      await informer.stop();
      expect(completed).toBe(true);
    });
  });

  describe('resume after a broken stream (no re-list: etcd replays what was missed)', () => {
    it('watches again from the last applied revision + 1 after the backoff: the missed events arrive in order, nothing is re-listed', async () => {
      for (const k of ['same', 'changed', 'gone']) etcd.put(`/p/${k}`, '1');
      await start();
      await informer.ready();
      const states: boolean[] = [];
      informer.connected$.subscribe(c => states.push(c));
      const lists = etcd.lists.length;
      const applied = informer.snapshot.revision;

      etcd.breakStream();
      etcd.delivering = false; // nothing reaches the informer while it is cut off
      const gone = etcd.del('/p/gone');
      const changed = etcd.put('/p/changed', '2');
      const added = etcd.put('/p/added', '1');
      etcd.delivering = true;
      await settle();
      expect(informer.state.connected).toBe(false);
      expect(values(informer).get('/p/gone')).toBe('1'); // the last map is served meanwhile
      expect(changes).toEqual([]);

      await clock.advance(99);
      expect(etcd.liveWatches()).toHaveLength(0); // not before the backoff
      await clock.advance(1); // first retry: initialDelay (lowest jitter of [base, 2 x base))
      expect(etcd.liveWatches()[0]?.startRevision).toBe(applied + 1);
      expect(summary(changes)).toEqual([
        ['delete', '/p/gone', undefined, gone, false],
        ['put', '/p/changed', '2', changed, false],
        ['put', '/p/added', '1', added, false],
      ]);
      expect(etcd.lists.length).toBe(lists); // a resume, not a re-list
      expect(values(informer)).toEqual(etcd.contents('/p/'));
      expect(states).toEqual([true, false, true]);
      expect(etcd.liveWatches()).toHaveLength(1);
    });

    it('re-lists and diffs only when etcd answers that the resume revision was compacted', async () => {
      for (const k of ['same', 'changed', 'gone']) etcd.put(`/p/${k}`, '1');
      await start();
      await informer.ready();
      const lists = etcd.lists.length;
      etcd.breakStream();
      etcd.delivering = false;
      etcd.del('/p/gone');
      const changed = etcd.put('/p/changed', '2');
      const added = etcd.put('/p/added', '1');
      etcd.delivering = true;
      etcd.compact();
      await clock.advance(100);
      expect(etcd.lists.length).toBeGreaterThan(lists);
      expect(summary(changes)).toEqual([
        ['put', '/p/changed', '2', changed, true],
        ['put', '/p/added', '1', added, true],
        ['delete', '/p/gone', undefined, etcd.revision, true],
      ]);
      expect(values(informer)).toEqual(etcd.contents('/p/'));
      expect(informer.state.connected).toBe(true);
      expect(etcd.liveWatches()).toHaveLength(1);
      expect(etcd.liveWatches()[0]?.startRevision).toBe(etcd.revision + 1);
    });

    it('backs off like client-go (base doubles up to maxDelay, jitter 1.0) while etcd is unreachable; resets only after a healthy period', async () => {
      await start();
      await informer.ready();
      etcd.watchError = new Error('14 UNAVAILABLE: connect ECONNREFUSED');
      etcd.breakStream();
      await clock.advance(5_000);
      // bases 100, 200, 400, 800, 1000 (capped); the lowest jitter keeps each at its base
      expect(clock.sleeps.slice(0, 6)).toEqual([100, 200, 400, 800, 1_000, 1_000]);
      expect(informer.state.connected).toBe(false);
      expect(informer.state.reason).toMatch(/watch stream broke: .*ECONNREFUSED/);
      expect(informer.lastError).toBe(etcd.watchError);

      etcd.watchError = undefined;
      await clock.advance(1_000);
      expect(informer.state.connected).toBe(true);
      expect(informer.lastError).toBeUndefined();
      // Lost again at once: a flapping link keeps the long delay.
      let before = clock.sleeps.length;
      etcd.breakStream();
      await clock.advance(1_000);
      expect(clock.sleeps.slice(before)).toEqual([1_000]);
      expect(informer.state.connected).toBe(true);
      // After 30 s of a healthy watch, the next failure starts from the first step again.
      await clock.advance(30_000);
      before = clock.sleeps.length;
      etcd.breakStream();
      await clock.advance(100);
      expect(clock.sleeps.slice(before)).toEqual([100]);
      expect(informer.state.connected).toBe(true);
    });

    it('spreads the retries of many informers that lost etcd at the same moment (never the same millisecond)', async () => {
      const random = seededRandom(23);
      const informers = Array.from(
        { length: 200 },
        (_, i) => new PrefixInformer(etcd, `/s${i}/`, OPTIONS, { clock, random }),
      );
      for (const one of informers) one.start();
      await settle();
      await Promise.all(informers.map(one => one.ready()));
      const watches = etcd.watches.length;
      etcd.breakStream();
      const retryAt: number[] = [];
      const t0 = clock.now();
      const seen = new Set<number>();
      // Note the time each informer's resume reached "etcd".
      for (let t = 0; t < 250; t++) {
        await clock.advance(1);
        for (const w of etcd.watches.slice(watches)) {
          if (!seen.has(etcd.watches.indexOf(w))) {
            seen.add(etcd.watches.indexOf(w));
            retryAt.push(clock.now() - t0);
          }
        }
      }
      expect(retryAt).toHaveLength(200);
      // Over [100, 200) ms: no millisecond holds more than a handful of them.
      expect(Math.min(...retryAt)).toBeGreaterThanOrEqual(100);
      expect(Math.max(...retryAt)).toBeLessThanOrEqual(200);
      const perMs = new Map<number, number>();
      for (const at of retryAt) perMs.set(at, (perMs.get(at) ?? 0) + 1);
      expect(Math.max(...perMs.values())).toBeLessThanOrEqual(8);
      await Promise.all(informers.map(one => one.stop()));
    });

    it('treats a cancel by etcd (not compaction) as a disconnect with backoff, then resumes', async () => {
      await start();
      await informer.ready();
      etcd.cancelWatches(new Error('Watcher canceled: etcdserver: some refusal'));
      await settle();
      expect(informer.state.connected).toBe(false);
      expect(informer.state.reason).toBe(
        'watch canceled: Watcher canceled: etcdserver: some refusal',
      );
      const watches = etcd.watches.length;
      const lists = etcd.lists.length;
      await clock.advance(99);
      expect(etcd.watches.length).toBe(watches); // not before the backoff
      await clock.advance(1);
      expect(etcd.watches.length).toBe(watches + 1);
      expect(etcd.lists.length).toBe(lists);
      expect(informer.state.connected).toBe(true);
    });
  });

  describe('a flapping link', () => {
    it('is named once, then its drops are counted: one summary line a minute, none per drop', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
      await start();
      await informer.ready();
      const drop = async () => {
        etcd.breakStream();
        await settle();
        expect(informer.state.connected).toBe(false);
        // the backoff (at most 1 s at the lowest jitter), then the resume
        for (let waited = 0; waited < 2_000 && !informer.state.connected; waited += 50) {
          await clock.advance(50);
        }
        expect(informer.state.connected).toBe(true);
      };
      await drop();
      expect(warn.mock.calls.map(c => String(c[0]))).toEqual([
        expect.stringMatching(/^watch on "\/p\/" lost \(watch stream broke/),
      ]);
      // Lost again 10 s after recovering: named as an unstable link, once.
      await clock.advance(10_000);
      await drop();
      expect(warn).toHaveBeenCalledTimes(2);
      expect(String(warn.mock.calls[1]![0])).toMatch(
        /lost again \d+ s after it recovered.*unstable/,
      );
      // Five more drops, 10 s apart: counted, not logged.
      for (let i = 0; i < 5; i++) {
        await clock.advance(10_000);
        await drop();
      }
      expect(warn).toHaveBeenCalledTimes(2);
      // The first recovery a minute after the last line reports the count.
      await clock.advance(10_000);
      await drop();
      expect(warn).toHaveBeenCalledTimes(3);
      expect(String(warn.mock.calls[2]![0])).toMatch(
        /dropped 6 more time\(s\) in the last \d+ s.*caught up/,
      );
      const resumed = log.mock.calls.filter(c => String(c[0]).includes('resumed')).length;
      expect(resumed).toBe(2); // the first outage and the first flap; the rest are counted
      // A drop long after the link settled is an outage of its own again.
      await clock.advance(120_000);
      await drop();
      expect(warn).toHaveBeenCalledTimes(4);
      expect(String(warn.mock.calls[3]![0])).toMatch(/^watch on "\/p\/" lost \(/);
      // Nothing was lost along the way.
      etcd.put('/p/after', 'v');
      expect(informer.get('/p/after')?.value.toString()).toBe('v');
    });
  });

  describe('compaction', () => {
    it('re-lists at once after a compaction cancel, and backs off when cancels repeat', async () => {
      etcd.put('/p/a', '1');
      await start();
      await informer.ready();
      const lists = () => etcd.lists.length;
      const afterFirst = lists();

      // Every new watch is canceled as compacted: a loop unless guarded.
      const sleeps = clock.sleeps.length;
      etcd.compact(Number.MAX_SAFE_INTEGER);
      etcd.cancelWatches(new Error('Watcher canceled: '));
      await settle();
      expect(lists()).toBe(afterFirst + 1); // the first is answered at once
      expect(informer.state.connected).toBe(true); // a compaction is no disconnect
      await clock.advance(4_000);
      // then each repeat backs off (wakes at 100, 300, 700, 1500, 2500, 3500 ms): never a loop
      expect(clock.sleeps.slice(sleeps, sleeps + 6)).toEqual([100, 200, 400, 800, 1_000, 1_000]);
      expect(lists()).toBe(afterFirst + 1 + 6);

      etcd.compact(0);
      etcd.put('/p/b', '2');
      await clock.advance(1_000);
      expect(values(informer)).toEqual(etcd.contents('/p/'));
      expect(etcd.liveWatches()).toHaveLength(1);
    });
  });

  describe('stall detection', () => {
    it('keeps a quiet watch that etcd vouches for (probe), without re-listing', async () => {
      etcd.put('/p/a', '1');
      await start();
      await informer.ready();
      const lists = etcd.lists.length;
      await clock.advance(3_500);
      expect(etcd.probes).toBe(3);
      expect(etcd.lists.length).toBe(lists);
      expect(informer.state.connected).toBe(true);
    });

    it('does not probe while events or progress notifications arrive', async () => {
      await start();
      await informer.ready();
      for (let i = 0; i < 10; i++) {
        await clock.advance(600);
        if (i % 2) etcd.progress();
        else etcd.put('/p/a', String(i));
      }
      expect(etcd.probes).toBe(0);
    });

    it('rebuilds a silently stalled watch when the probe shows missed changes', async () => {
      etcd.put('/p/a', '1');
      await start();
      await informer.ready();
      etcd.delivering = false;
      const missed = etcd.put('/p/b', '2');
      etcd.delivering = true;
      await clock.advance(1_100);
      expect(summary(changes)).toEqual([['put', '/p/b', '2', missed, true]]);
      expect(etcd.watches.filter(w => w.closed)).toHaveLength(1);
      expect(etcd.liveWatches()[0]?.startRevision).toBe(missed + 1);
      expect(etcd.resets).toBe(0);
    });

    it('rebuilds the whole stream when a new watch is never acknowledged', async () => {
      etcd.autoAcknowledge = false;
      await start();
      await informer.ready();
      await clock.advance(1_100);
      expect(etcd.resets).toBe(1);
      expect(etcd.probes).toBe(0);
    });

    it('rebuilds the watch when the probe fails', async () => {
      await start();
      await informer.ready();
      etcd.probe = () => Promise.reject(new Error('deadline exceeded'));
      const lists = etcd.lists.length;
      await clock.advance(1_100);
      expect(etcd.lists.length).toBe(lists + 1);
    });
  });

  describe('keys are bytes', () => {
    it('keeps keys that differ only in non-UTF-8 bytes apart, and deletes only the one deleted', async () => {
      const ff = '/p/\udcff';
      const fe = '/p/\udcfe';
      etcd.put(ff, 'ff');
      etcd.put(fe, 'fe');
      await start();
      await informer.ready();
      expect(informer.size).toBe(2);
      etcd.del(ff);
      expect(informer.get(fe)?.value.toString()).toBe('fe');
      expect(informer.size).toBe(1);
      // the stall probe agrees with the map (no re-list loop)
      const lists = etcd.lists.length;
      await clock.advance(3_500);
      expect(etcd.lists.length).toBe(lists);
    });
  });

  describe('permission denied', () => {
    const denied = new EtcdPermissionError('list', '/p/', 'reader');

    it('rejects ready() at once with the error naming the prefix, and keeps retrying', async () => {
      etcd.listError = denied;
      await start();
      await expect(informer.ready()).rejects.toBe(denied);
      expect(informer.failure).toBe(denied);
      expect(informer.state).toMatchObject({ connected: false, synced: false });

      etcd.listError = undefined; // a role was granted
      etcd.put('/p/a', '1');
      await clock.advance(1_000);
      expect(informer.state.synced).toBe(true);
      expect(informer.failure).toBeUndefined();
      expect(values(informer)).toEqual(new Map([['/p/a', '1']]));
    });

    it('after the first list, a refusal is an outage: the last map is served', async () => {
      etcd.put('/p/a', '1');
      await start();
      await informer.ready();
      etcd.listError = denied;
      etcd.watchCancel = denied;
      etcd.cancelWatches(denied);
      await clock.advance(200);
      expect(informer.failure).toBeUndefined();
      expect(informer.state.connected).toBe(false);
      expect(informer.lastError).toBe(denied);
      expect(values(informer)).toEqual(new Map([['/p/a', '1']]));
    });
  });

  describe("view$'s batches (SETTLED), as the config center follows them", () => {
    /** What the follower of `view$` saw, in order. */
    let log: string[];
    /** Also called at each SETTLED. */
    let onSettled: () => void;

    /** Starts an informer on `/p/` followed through `view$`, logging into {@link log}. */
    async function startFollowing(transform?: InformerEntryTransform): Promise<PrefixInformer> {
      log = [];
      onSettled = () => undefined;
      informer = new PrefixInformer(
        etcd,
        '/p/',
        OPTIONS,
        { clock, random: () => 0 },
        { transform },
      );
      informer.view$.subscribe(event => {
        if (event === SYNCED) return;
        if (event === SETTLED) {
          log.push('settled');
          onSettled();
          return;
        }
        // Told right after the map holds the change.
        const held = informer.get(event.key);
        const holds = event.type === 'put' ? held === event.entry : held === undefined;
        log.push(`${event.type} ${event.key}${holds ? '' : ' (map not updated!)'}`);
      });
      informer.start();
      await settle();
      await informer.ready();
      return informer;
    }

    /** One watch response of plain entries (a put when `value` is given, else a delete). */
    const respond = (...events: Array<{ key: string; value?: string; revision: number }>) => {
      etcd
        .liveWatches()[0]!
        .listener.events(
          events.map(({ key, value, revision }) =>
            value === undefined
              ? { type: 'delete' as const, key, revision }
              : { type: 'put' as const, entry: plainEntry(key, value, revision) },
          ),
        );
    };

    it('each change as the map holds it; settled once per response that changed something', async () => {
      etcd.put('/p/listed', '0');
      await startFollowing();
      expect(log).toEqual([]); // the first list: no change, no settled

      // One response carrying two events of one revision: two changes, one settled, after both.
      etcd.txn([
        { key: '/p/a', value: '1' },
        { key: '/p/b', value: '2' },
      ]);
      expect(log).toEqual(['put /p/a', 'put /p/b', 'settled']);

      log.length = 0;
      etcd.del('/p/a');
      expect(log).toEqual(['delete /p/a', 'settled']);

      // Responses that change nothing: no settled.
      log.length = 0;
      respond({ key: '/p/unknown', revision: ++etcd.revision }); // a delete of a key not held
      etcd.progress(); // a progress notification
      respond({ key: '/p/listed', value: 'old', revision: 1 }); // a replay older than applied
      expect(log).toEqual([]);
      expect(informer.get('/p/listed')?.value.toString()).toBe('0');
    });

    it('a response replaying several revisions settles before each newer one, while the map holds the one before', async () => {
      await startFollowing();
      const base = etcd.revision;
      // What the map held for /p/k at each SETTLED.
      const seen: string[] = [];
      onSettled = () => seen.push(informer.get('/p/k')?.value.toString() ?? '-');
      // A resume after a partition: etcd replays what was missed in one response, a key written
      // at three revisions (the second a retried put of the same bytes), another between them.
      respond(
        { key: '/p/k', value: '1', revision: base + 1 },
        { key: '/p/k', value: '1', revision: base + 2 },
        { key: '/p/j', value: 'x', revision: base + 3 },
        { key: '/p/j', value: 'y', revision: base + 3 },
        { key: '/p/k', value: '2', revision: base + 4 },
      );
      expect(log).toEqual([
        'put /p/k',
        'settled',
        'put /p/k',
        'settled',
        'put /p/j',
        'put /p/j', // one revision: one batch
        'settled',
        'put /p/k',
        'settled',
      ]);
      expect(seen).toEqual(['1', '1', '1', '2']);
    });

    it('a follower that throws is reported, and neither the informer nor the other followers stop', async () => {
      const previous = rxjsConfig.onUnhandledError;
      // RxJS reports a subscriber's error on a timer of its own (never into the informer).
      const reported = new Promise<unknown>(resolve => {
        rxjsConfig.onUnhandledError = resolve;
      });
      try {
        await startFollowing();
        let told = 0;
        informer.view$.subscribe(event => {
          if (event !== SYNCED && event !== SETTLED && ++told === 1)
            throw new Error('follower bug');
        });
        respond(
          { key: '/p/a', value: '1', revision: etcd.revision + 1 },
          { key: '/p/b', value: '2', revision: etcd.revision + 1 },
        );
        expect(log).toEqual(['put /p/a', 'put /p/b', 'settled']);
        expect(informer.get('/p/b')?.value.toString()).toBe('2');
        await expect(
          within(reported, 10_000, "the follower's error reported by RxJS"),
        ).resolves.toEqual(new Error('follower bug'));
      } finally {
        rxjsConfig.onUnhandledError = previous;
      }
    });

    it('a re-list that found changes settles once after them; one that found none does not', async () => {
      for (const k of ['same', 'changed', 'gone']) etcd.put(`/p/${k}`, '1');
      await startFollowing();
      etcd.breakStream();
      etcd.delivering = false;
      etcd.del('/p/gone');
      etcd.put('/p/changed', '2');
      etcd.put('/p/added', '1');
      etcd.delivering = true;
      etcd.compact(); // the resume is answered "compacted": a re-list
      await clock.advance(100); // the backoff, then the re-list
      expect(informer.state.connected).toBe(true);
      expect(log).toEqual(['put /p/changed', 'put /p/added', 'delete /p/gone', 'settled']);

      log.length = 0;
      const lists = etcd.lists.length;
      etcd.breakStream();
      etcd.put('/other/x', '1'); // not under the prefix
      etcd.compact(); // the resume revision is compacted, though nothing under /p/ changed
      await clock.advance(500);
      expect(etcd.lists.length).toBeGreaterThan(lists); // it did re-list
      expect(informer.state.connected).toBe(true);
      expect(log).toEqual([]);
    });

    it('keeps an entry without a transform frozen (listed or watched), and a transform result as returned', async () => {
      // The real port hands plain entries: make the fake's listed ones plain too.
      const listPage = etcd.listPage.bind(etcd);
      etcd.listPage = async (prefix, request) => {
        const page = await listPage(prefix, request);
        return { ...page, entries: page.entries.map(entry => ({ ...entry })) };
      };
      etcd.put('/p/listed', '1');
      await startFollowing();
      const listed = informer.get('/p/listed')!;
      expect(Object.isFrozen(listed)).toBe(true);
      expect(listed.value.toString()).toBe('1');

      const watched = plainEntry('/p/watched', '2', ++etcd.revision);
      etcd.liveWatches()[0]!.listener.events([{ type: 'put', entry: watched }]);
      expect(informer.get('/p/watched')).toBe(watched);
      expect(Object.isFrozen(watched)).toBe(true);
      await informer.stop();

      // With a transform: its result is kept as it is (the owner's form), never frozen.
      etcd = new FakeEtcd();
      etcd.put('/p/listed', '1');
      const made: InformerEntry[] = [];
      await startFollowing(entry => {
        const kept = { ...entry, value: Buffer.from(`T${entry.value.toString()}`) };
        made.push(kept);
        return kept;
      });
      expect(informer.get('/p/listed')).toBe(made[0]);
      etcd.put('/p/x', '3');
      expect(informer.get('/p/x')).toBe(made[1]);
      expect(made.map(entry => Object.isFrozen(entry))).toEqual([false, false]);
      expect(informer.get('/p/x')?.value.toString()).toBe('T3');
    });
  });

  describe('stop', () => {
    it('cancels the watch, clears every timer and completes the observables', async () => {
      await start();
      await informer.ready();
      let completed = 0;
      informer.changes$.subscribe({ complete: () => completed++ });
      informer.state$.subscribe({ complete: () => completed++ });
      await informer.stop();
      expect(etcd.liveWatches()).toHaveLength(0);
      expect(clock.pending).toBe(0);
      expect(completed).toBe(2);
      expect(informer.state).toMatchObject({ connected: false, reason: 'stopped' });
    });

    it('cuts a backoff sleep short and rejects ready() when stopped before the first list', async () => {
      etcd.listError = new Error('unreachable');
      await start();
      const ready = informer.ready();
      await informer.stop();
      await expect(ready).rejects.toThrow(/stopped before its first list/);
      expect(clock.pending).toBe(0);
    });
  });
});

/** An entry as the real port makes it (a plain object, not frozen). */
function plainEntry(key: string, value: string, revision: number): InformerEntry {
  return {
    key,
    value: Buffer.from(value),
    modRevision: revision,
    createRevision: revision,
    version: 1,
    lease: '0',
  };
}
