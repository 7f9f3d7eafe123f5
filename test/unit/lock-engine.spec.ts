import { EtcdLockLostError } from '../../lib/errors/etcd-lock-lost.error.js';
import { EtcdLockTimeoutError } from '../../lib/errors/etcd-lock-timeout.error.js';
import { LeaseEngine } from '../../lib/lease/lease-engine.js';
import { LockEngine } from '../../lib/lock/lock-engine.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeLeaseKv } from '../support/fake-lease-kv.js';
import { FakeLeasePort, FakeLeaseStore } from '../support/fake-lease-port.js';

const PREFIX = '/locks/billing/';
const TTL = 6; // renew deadline 4 s, retry period 1.2 s

/** Lock holders on one fake etcd (leases expire after their TTL), each on its own link. */
function setup(names: string[]) {
  const clock = new FakeClock();
  const store = new FakeLeaseStore(clock, true);
  const kv = new FakeLeaseKv(clock, store);
  const warnings: string[] = [];
  const holders = names.map(name => {
    const link = new FakeLeasePort(clock, store);
    const engine = new LockEngine(
      kv.link(link),
      new LeaseEngine(link, clock, () => 0.5),
      name,
      { warn: message => warnings.push(`${name}: ${message}`) },
      clock,
    );
    return { name, link, engine };
  });
  return { clock, store, kv, holders, warnings };
}

/** A promise the test settles by hand, and whether it did. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>(resolve => (open = resolve));
  return { open, opened };
}

describe('LockEngine (fake etcd, fake clock)', () => {
  it('two callers: the second runs only after the first released, in order', async () => {
    const { clock, store, holders } = setup(['a', 'b']);
    const events: string[] = [];
    const first = gate();
    const a = holders[0]!.engine.withLock('billing', PREFIX, TTL, undefined, async () => {
      events.push('a in');
      await first.opened;
      events.push('a out');
      return 'a';
    });
    await clock.advance(10);
    const b = holders[1]!.engine.withLock('billing', PREFIX, TTL, undefined, async () => {
      events.push('b in');
      return 'b';
    });
    await clock.advance(30_000); // a holds the lock this long: b waits, a's lease stays alive
    expect(events).toEqual(['a in']);
    first.open();
    await clock.advance(10);
    await expect(a).resolves.toBe('a');
    await expect(b).resolves.toBe('b');
    expect(events).toEqual(['a in', 'a out', 'b in']);
    expect(store.live.size).toBe(0); // both leases revoked on release
  });

  it('holder cut off: its signal aborts before etcd can expire its lease, so before the next holder gets in', async () => {
    const { clock, store, kv, holders, warnings } = setup(['a', 'b']);
    let abortedAt = 0;
    let bEnteredAt = 0;
    const release = gate();
    const a = holders[0]!.engine.withLock('billing', PREFIX, TTL, undefined, async signal => {
      signal.addEventListener('abort', () => (abortedAt = clock.now()));
      await release.opened;
    });
    a.catch(() => undefined); // asserted below
    await clock.advance(10);
    const b = holders[1]!.engine.withLock('billing', PREFIX, TTL, undefined, async () => {
      bEnteredAt = clock.now();
    });
    await clock.advance(2_000);
    const lease = [...kv.keys.values()].find(k => k.createRevision === 2)!.lease;
    holders[0]!.link.blackhole = true;
    const renewedAt = store.renewedAt.get(lease)!;
    await clock.advance(TTL * 1000 + 2_000);
    expect(abortedAt).toBeGreaterThan(0);
    expect(bEnteredAt).toBeGreaterThan(0);
    expect(abortedAt).toBeLessThan(renewedAt + TTL * 1000); // before etcd could expire the lease
    expect(abortedAt).toBeLessThan(bEnteredAt);
    release.open();
    await clock.advance(3_000);
    await expect(a).rejects.toBeInstanceOf(EtcdLockLostError);
    await expect(b).resolves.toBeUndefined();
    expect(warnings).toContainEqual(
      expect.stringMatching(/a: lock "billing" lost while held: no renewal confirmed/),
    );
  });

  it('the lock key deleted from outside: the signal aborts and withLock rejects', async () => {
    const { clock, kv, holders } = setup(['a']);
    const release = gate();
    const a = holders[0]!.engine.withLock('billing', PREFIX, TTL, undefined, async signal => {
      await release.opened;
      return signal.aborted;
    });
    a.catch(() => undefined); // asserted below
    await clock.advance(10);
    kv.delete([...kv.keys.keys()][0]!);
    release.open();
    await clock.advance(10);
    await expect(a).rejects.toThrow(/the lock key was deleted/);
  });

  it('timeout while waiting: EtcdLockTimeoutError, and its lease and key are gone', async () => {
    const { clock, store, kv, holders } = setup(['a', 'b']);
    const release = gate();
    const a = holders[0]!.engine.withLock('billing', PREFIX, TTL, undefined, () => release.opened);
    await clock.advance(10);
    const b = holders[1]!.engine.withLock('billing', PREFIX, TTL, 5_000, async () => 'b');
    b.catch(() => undefined);
    await clock.advance(5_000);
    await expect(b).rejects.toBeInstanceOf(EtcdLockTimeoutError);
    expect(store.live.size).toBe(1); // only a's
    expect(kv.keys.size).toBe(1);
    release.open();
    await clock.advance(10);
    await a;
    expect(store.live.size).toBe(0);
    expect(clock.pending).toBe(0);
  });
});
