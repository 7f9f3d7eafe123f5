import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { filter, firstValueFrom, map } from 'rxjs';
import { EtcdPermissionError } from '../../lib/errors/etcd-permission.error.js';
import { InformerPool } from '../../lib/watch/informer-pool.js';
import type { InformerHandle } from '../../lib/watch/informer-pool.js';
import type { InformerEntry } from '../../lib/watch/informer.interfaces.js';
import { SETTLED, SYNCED } from '../../lib/watch/informer.interfaces.js';
import { FakeClock, FakeEtcd, settle } from '../support/fake-informer-port.js';
import { within } from '../support/jest-helpers.js';
import { seededRandom } from '../support/random.js';

/** The pool's sharing and ref-counting against a fake port (etcd watcher counts: sharing.spec.ts). */
describe('InformerPool (fake port)', () => {
  let etcd: FakeEtcd;
  let clock: FakeClock;
  let pool: InformerPool;

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    etcd = new FakeEtcd();
    clock = new FakeClock();
    pool = new InformerPool(
      etcd,
      { stallTimeout: 1_000, retry: { initialDelay: 100, maxDelay: 1_000 } },
      { clock, random: () => 0 },
    );
  });
  afterEach(async () => {
    await pool.close();
    jest.restoreAllMocks();
  });

  it('shares one informer (one watch) per prefix and stops it at the last release', async () => {
    const a = pool.acquire('/s/');
    const b = pool.acquire('/s/');
    const other = pool.acquire('/t/');
    expect(a.informer).toBe(b.informer);
    expect(pool.size).toBe(2);
    await a.informer.ready();
    await settle();
    expect(etcd.liveWatches().filter(w => w.prefix === '/s/')).toHaveLength(1);

    a.release();
    a.release(); // a second release of one hold is ignored
    expect(pool.peek('/s/')).toBe(b.informer);
    b.release();
    await settle();
    expect(pool.peek('/s/')).toBeUndefined();
    expect(etcd.liveWatches().map(w => w.prefix)).toEqual(['/t/']);
    expect(b.informer.state.reason).toBe('stopped');

    const again = pool.acquire('/s/');
    expect(again.informer).not.toBe(b.informer); // a fresh one
    other.release();
    again.release();
  });

  it('keeps a pinned informer after its holds are released, until the pool closes', async () => {
    const pinned = pool.acquire('/config/', { pinned: true });
    await pinned.informer.ready();
    pinned.release();
    await settle();
    expect(pool.peek('/config/')).toBe(pinned.informer);
    expect(etcd.liveWatches()).toHaveLength(1);
    await pool.close();
    expect(etcd.liveWatches()).toHaveLength(0);
    expect(() => pool.acquire('/x/')).toThrow(/shut down/);
    expect(clock.pending).toBe(0);
  });

  it('an informer with a transform is its own (never shared) and keeps entries in transformed form', async () => {
    etcd.put('/c/a', '1');
    const seen: Array<[string, string | undefined]> = [];
    const transform = (
      entry: InformerEntry,
      previous: InformerEntry | undefined,
    ): InformerEntry => {
      seen.push([entry.value.toString(), previous?.value.toString()]);
      return Object.freeze({ ...entry, value: Buffer.from(`T${entry.value.toString()}`) });
    };
    const plain = pool.acquire('/c/');
    const own = pool.acquire('/c/', { transform });
    const other = pool.acquire('/c/', { transform: entry => entry });
    expect(own.informer).not.toBe(plain.informer);
    expect(own.informer).not.toBe(other.informer);
    expect(pool.peek('/c/')).toBe(plain.informer);
    await Promise.all([plain.informer.ready(), own.informer.ready()]);
    expect(own.informer.get('/c/a')?.value.toString()).toBe('T1');
    expect(plain.informer.get('/c/a')?.value.toString()).toBe('1');

    seen.length = 0;
    etcd.put('/c/a', '2');
    expect(own.informer.get('/c/a')?.value.toString()).toBe('T2');
    // The transform sees the entry it replaces (as transformed before).
    expect(seen).toEqual([['2', 'T1']]);

    // A resume after a broken stream transforms what etcd replays.
    seen.length = 0;
    etcd.breakStream();
    etcd.put('/c/b', '3');
    await clock.advance(1_000);
    await settle();
    expect(own.informer.get('/c/b')?.value.toString()).toBe('T3');
    expect(seen).toEqual([['3', undefined]]);
    // A re-list (the resume revision was compacted) transforms what it finds, against the map it
    // replaces.
    seen.length = 0;
    etcd.breakStream();
    etcd.put('/c/c', '4');
    etcd.compact();
    await clock.advance(1_000);
    await settle();
    expect(own.informer.get('/c/c')?.value.toString()).toBe('T4');
    expect(seen).toContainEqual(['4', undefined]);
    expect(seen).toContainEqual(['3', 'T3']);

    own.release();
    await settle();
    expect(own.informer.state.reason).toBe('stopped');
    expect(plain.informer.state.reason).not.toBe('stopped');
    plain.release();
    other.release();
  });

  it('an informer with a transform is its own (never shared): each owner hears its informer only', async () => {
    const own = (heard: string[]) => (entry: InformerEntry) => {
      heard.push(`transform ${entry.key}`);
      return entry;
    };
    const follow = (handle: InformerHandle, heard: string[]) =>
      handle.informer.view$.subscribe(event => {
        if (event === SETTLED) heard.push('settled');
        else if (event !== SYNCED) heard.push(`${event.type} ${event.key}`);
      });
    const first: string[] = [];
    const second: string[] = [];
    const plain = pool.acquire('/c/');
    const a = pool.acquire('/c/', { transform: own(first) });
    const b = pool.acquire('/c/', { transform: own(second) });
    follow(a, first);
    follow(b, second);
    expect(a.informer).not.toBe(b.informer);
    expect(a.informer).not.toBe(plain.informer);
    expect(b.informer).not.toBe(plain.informer);
    expect(pool.peek('/c/')).toBe(plain.informer);
    expect(pool.size).toBe(3);
    await Promise.all([a.informer.ready(), b.informer.ready(), plain.informer.ready()]);
    await settle();
    expect(etcd.liveWatches().filter(w => w.prefix === '/c/')).toHaveLength(3);

    etcd.put('/c/k', 'v');
    expect(first).toEqual(['transform /c/k', 'put /c/k', 'settled']);
    expect(second).toEqual(['transform /c/k', 'put /c/k', 'settled']);

    a.release();
    await settle();
    expect(a.informer.state.reason).toBe('stopped');
    etcd.put('/c/k', 'w');
    // a released informer applies nothing more
    expect(first).toEqual(['transform /c/k', 'put /c/k', 'settled']);
    expect(second).toEqual([
      'transform /c/k',
      'put /c/k',
      'settled',
      'transform /c/k',
      'put /c/k',
      'settled',
    ]);
    b.release();
    plain.release();
  });

  it('observe(): holds the informer while subscribed, one watch for every subscriber', async () => {
    etcd.put('/s/a', '1');
    const sizes = pool.observe('/s/', informer => informer.state$.pipe(map(() => informer.size)));
    const seen1: number[] = [];
    const seen2: number[] = [];
    const sub1 = sizes.subscribe(n => seen1.push(n));
    const sub2 = sizes.subscribe(n => seen2.push(n));
    await settle();
    expect(pool.size).toBe(1);
    expect(etcd.liveWatches()).toHaveLength(1);
    expect(seen1.at(-1)).toBe(1);
    expect(seen2.at(-1)).toBe(1);
    sub1.unsubscribe();
    expect(pool.size).toBe(1);
    sub2.unsubscribe();
    await settle();
    expect(pool.size).toBe(0);
    expect(etcd.liveWatches()).toHaveLength(0);
  });

  it('observe(): errors at once with EtcdPermissionError when etcd refuses the first list', async () => {
    const denied = new EtcdPermissionError('list', '/s/', 'reader');
    etcd.listError = denied;
    const seen = await within(
      new Promise<unknown>(resolve =>
        pool.observe('/s/', informer => informer.state$).subscribe({ error: resolve }),
      ),
      5_000,
      'observe() error after a refused first list',
    );
    expect(seen).toBe(denied);
    await settle();
    expect(pool.size).toBe(0); // released: the next subscriber asks etcd again

    etcd.listError = undefined;
    etcd.put('/s/a', '1');
    const synced = await within(
      firstValueFrom(
        pool.observe('/s/', i =>
          i.state$.pipe(
            filter(s => s.synced),
            map(() => i.size),
          ),
        ),
      ),
      5_000,
      'observe() synced once the list is allowed again',
    );
    expect(synced).toBe(1);
  });

  it('one etcd outage is one warning and one recovery line for the whole app, not one per watch (an app may watch 1,000 services)', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
    // Its own pool with a stall timeout longer than the test: with the shared pool's 1 s, every one
    // of the 1,000 idle watches probed etcd (and wrote a debug line) every fake second, 9,000
    // probes that made this test take a minute on a loaded machine and proved nothing here.
    const fleet = new InformerPool(
      etcd,
      { stallTimeout: 60_000, retry: { initialDelay: 100, maxDelay: 1_000 } },
      { clock, random: () => 0 },
    );
    try {
      const handles = Array.from({ length: 1_000 }, (_, i) => fleet.acquire(`/services/s${i}/`));
      await settle();
      await Promise.all(handles.map(h => h.informer.ready()));
      const lists = etcd.lists.length;
      warn.mockClear();
      log.mockClear();

      etcd.watchError = new Error('14 UNAVAILABLE: connect ECONNREFUSED');
      etcd.breakStream();
      await clock.advance(3_000); // etcd down for 3 s: every watch retries with backoff
      expect(handles.every(h => !h.informer.state.connected)).toBe(true);
      etcd.watchError = undefined;
      await clock.advance(3_000); // past the longest backoff step (maxDelay 1 s)
      expect(handles.every(h => h.informer.state.connected)).toBe(true);
      expect(etcd.lists.length).toBe(lists); // every watch resumed: not one re-list
      const warned = warn.mock.calls.map(c => String(c[0]));
      expect(warned).toEqual([
        expect.stringMatching(
          /^etcd watches lost since .* 1000 watch\(es\) serve their last known keys/,
        ),
      ]);
      const logged = log.mock.calls.map(c => String(c[0]));
      expect(logged).toEqual([
        expect.stringMatching(/^etcd watches resumed \(1000 watch\(es\)\) after \d+\.\d s/),
      ]);
      for (const h of handles) h.release();
    } finally {
      await fleet.close(); // even when an expectation failed: no informer or timer outlives the test
    }
  });

  it('once one watch of the app is back, the others follow within the first backoff step instead of waiting out their own', async () => {
    const random = seededRandom(7);
    const spread = new InformerPool(
      etcd,
      { stallTimeout: 60_000, retry: { initialDelay: 100, maxDelay: 2_000 } },
      { clock, random },
    );
    try {
      const handles = Array.from({ length: 50 }, (_, i) => spread.acquire(`/w${i}/`));
      await settle();
      await Promise.all(handles.map(h => h.informer.ready()));
      etcd.watchError = new Error('14 UNAVAILABLE: connect ECONNREFUSED');
      etcd.breakStream();
      await clock.advance(8_000); // several failed resumes each: their backoffs now differ widely
      etcd.watchError = undefined;
      const backAt = new Map<number, number>();
      for (let t = 0; t < 5_000 && backAt.size < handles.length; t += 10) {
        await clock.advance(10);
        handles.forEach((h, i) => {
          if (h.informer.state.connected && !backAt.has(i)) backAt.set(i, clock.now());
        });
      }
      expect(backAt.size).toBe(handles.length);
      const times = [...backAt.values()];
      // the first one back wakes the others: all within initialDelay (+ the 10 ms sampling step)
      expect(Math.max(...times) - Math.min(...times)).toBeLessThanOrEqual(110);
      for (const h of handles) h.release();
    } finally {
      await spread.close();
    }
  });
});
