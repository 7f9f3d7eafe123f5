import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { EtcdLockLostError, EtcdLockService, EtcdLockTimeoutError } from '../../../lib/index.js';
import { OpsChild } from '../../fixtures/operability/ops-child.launcher.js';
import { buildLibOnce } from '../../support/build-lib.js';
import { EtcdServer, TcpProxy, expectDuration, within } from '../../support/index.js';
import { closeAll, startOpsApp } from '../../support/ops-test-kit.js';

/** A promise with its resolve function, to hold a lock until the test lets go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>(resolve => (open = resolve));
  return { promise, open };
}

describe('EtcdLockService.withLock (real etcd)', () => {
  let etcd: EtcdServer;
  const apps: INestApplicationContext[] = [];
  const proxies: TcpProxy[] = [];

  beforeAll(async () => {
    [etcd] = await Promise.all([EtcdServer.start(), buildLibOnce()]);
  });
  afterEach(async () => {
    await OpsChild.disposeAll();
    await closeAll(apps);
    await Promise.all(proxies.splice(0).map(p => p.close()));
  });
  afterAll(async () => {
    await etcd?.dispose();
  });

  async function locksOf(id: string, hosts = etcd.endpoint): Promise<EtcdLockService> {
    const app = await startOpsApp({ hosts, instanceId: id });
    apps.push(app);
    return app.get(EtcdLockService);
  }

  it('three processes incrementing an etcd counter through the lock, 20 times each, end at 60', async () => {
    const counterKey = '/ops-counter-3x20';
    const children = await Promise.all(
      ['l-1', 'l-2', 'l-3'].map(id =>
        OpsChild.start({ hosts: etcd.endpoint, mode: 'lock', id, lockCount: 20, counterKey }),
      ),
    );
    // The children run side by side: one bound for all of them (30 s, stretched to 45 s on a loaded
    // machine), under this test's own timeout, so a stuck child fails here by name, not by jest.
    const lines = await Promise.all(
      children.map(child =>
        child.waitForLine(l => l.startsWith('DONE') || l.startsWith('FAILED'), 30_000),
      ),
    );
    expect(lines).toEqual(['DONE 20', 'DONE 20', 'DONE 20']);
    expect(await etcd.get(counterKey)).toBe('60');
    // every lock key was released (revoked leases delete their keys)
    await within(
      Promise.all(children.map(child => child.exited)),
      30_000,
      'every lock child exited',
    );
    expect([...(await etcd.getPrefix('/locks/counter/')).keys()]).toEqual([]);
  }, 100_000);

  it('timeout rejects with EtcdLockTimeoutError while another instance holds the lock; the waiter gets it after release', async () => {
    const [a, b] = [await locksOf('t-a'), await locksOf('t-b')];
    const held = gate();
    const entered = gate();
    const holding = a.withLock('report', async () => {
      entered.open();
      await held.promise;
      return 'a-done';
    });
    await entered.promise;
    const started = Date.now();
    await expect(
      b.withLock('report', async () => 'b-ran', { timeout: 300 }),
    ).rejects.toBeInstanceOf(EtcdLockTimeoutError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const error = await b.withLock('report', async () => 'x', { timeout: 200 }).catch(e => e);
    expect(error).toMatchObject({ name: 'EtcdLockTimeoutError', lock: 'report', timeoutMs: 200 });
    expect(String(error.message)).toContain('"report"');
    // the timed-out waiters left the queue: only the holder's key remains
    expect((await etcd.getPrefix('/locks/report/')).size).toBe(1);

    const waiting = b.withLock('report', async () => 'b-ran');
    held.open();
    expect(await holding).toBe('a-done');
    expect(await waiting).toBe('b-ran');
  });

  it('signal aborts when the lease is lost (holder cut off), before another holder can get in', async () => {
    const ttl = 3;
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: etcd.clientPort });
    proxies.push(proxy);
    const cutOff = await locksOf('s-a', proxy.endpoint);
    const other = await locksOf('s-b');
    const entered = gate();
    let abortedAt = 0;
    let reason: unknown;
    const holding = cutOff.withLock(
      'partitioned',
      signal =>
        new Promise<string>(resolve => {
          signal.addEventListener('abort', () => {
            abortedAt = Date.now();
            reason = signal.reason;
            resolve('finished after abort');
          });
          entered.open();
        }),
      { ttl },
    );
    await entered.promise;
    const cutAt = Date.now();
    proxy.blackhole();
    let otherGotItAt = 0;
    const second = other.withLock('partitioned', async () => {
      otherGotItAt = Date.now();
      return 'b';
    });
    await expect(holding).rejects.toBeInstanceOf(EtcdLockLostError);
    expect(reason).toBeInstanceOf(EtcdLockLostError);
    // a safety bound (the holder learns before etcd can admit the next one): never loosened
    expectDuration(abortedAt - cutAt, ttl * 1000, 'the cut-off lock holder aborting (< TTL)');
    expect(await second).toBe('b');
    expect(otherGotItAt).toBeGreaterThanOrEqual(abortedAt);
  });
});
