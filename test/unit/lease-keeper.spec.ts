import { jest } from '@jest/globals';
import { EventEmitter } from 'node:events';
import type { Namespace } from 'etcd3';
import { leaseTiming } from '../../lib/election/election-timing.js';
import { LeaseKeeper } from '../../lib/election/lease-keeper.js';

/** A fake of the three lease calls LeaseKeeper makes; `answer` decides each keep-alive's reply. */
function fakeLeases(answer: () => number | 'silence') {
  const calls = { grants: 0, keepAlives: 0, revokes: [] as string[] };
  const kv = {
    leaseClient: {
      leaseGrant: async (req: { TTL: number }) => {
        calls.grants++;
        return { ID: `${calls.grants}00`, TTL: String(req.TTL) };
      },
      leaseKeepAlive: async () => {
        const stream = new EventEmitter() as EventEmitter & {
          write(req: { ID: string }): void;
          end(): void;
        };
        stream.write = req => {
          calls.keepAlives++;
          const reply = answer();
          if (reply !== 'silence') {
            queueMicrotask(() => stream.emit('data', { ID: req.ID, TTL: String(reply) }));
          }
        };
        stream.end = () => undefined;
        return stream;
      },
      leaseRevoke: async (req: { ID: string }) => {
        calls.revokes.push(req.ID);
        return {};
      },
    },
  };
  return { kv: kv as unknown as Namespace, calls };
}

describe('LeaseKeeper (fake etcd, fake clock): the holder gives up before etcd can expire the lease', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const timing = leaseTiming(3); // lease 3 s, renew deadline 2 s, retry period 600 ms

  it('a granted lease is valid for the renew deadline from the moment the grant was sent', async () => {
    const { kv } = fakeLeases(() => 3);
    const keeper = new LeaseKeeper(kv, timing);
    await keeper.ensure();
    expect(keeper.valid).toBe(true);
    jest.advanceTimersByTime(timing.renewDeadlineMs - 1);
    expect(keeper.valid).toBe(true);
    jest.advanceTimersByTime(1);
    expect(keeper.valid).toBe(false);
    keeper.close();
  });

  it('renewals confirmed in time keep it valid; when etcd goes silent, lost$ fires at the renew deadline, before the lease TTL', async () => {
    let silent = false;
    const { kv, calls } = fakeLeases(() => (silent ? 'silence' : 3));
    const keeper = new LeaseKeeper(kv, timing);
    await keeper.ensure();
    const lost: Array<{ reason: string; at: number }> = [];
    keeper.lost$.subscribe(reason => lost.push({ reason, at: Date.now() }));
    keeper.startHeartbeat();
    for (let i = 0; i < 5; i++) await jest.advanceTimersByTimeAsync(timing.retryPeriodMs);
    expect(calls.keepAlives).toBeGreaterThanOrEqual(4);
    expect(keeper.valid).toBe(true);
    expect(lost).toEqual([]);

    // The last renewal etcd confirmed was sent now (the interval just fired): from here on, silence.
    const lastConfirmedSend = Date.now();
    silent = true;
    await jest.advanceTimersByTimeAsync(timing.ttl * 1000);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toMatch(/renew deadline/);
    const after = lost[0]!.at - lastConfirmedSend;
    expect(after).toBe(timing.renewDeadlineMs);
    expect(after).toBeLessThan(timing.ttl * 1000);
    expect(keeper.valid).toBe(false);
    keeper.close();
  });

  it('etcd saying the lease is gone (TTL 0) is a loss at once', async () => {
    let ttl = 3;
    const { kv } = fakeLeases(() => ttl);
    const keeper = new LeaseKeeper(kv, timing);
    await keeper.ensure();
    const lost: string[] = [];
    keeper.lost$.subscribe(reason => lost.push(reason));
    keeper.startHeartbeat();
    ttl = 0;
    await jest.advanceTimersByTimeAsync(timing.retryPeriodMs);
    expect(lost).toEqual(['the lease expired or was revoked']);
    expect(keeper.id).toBeUndefined();
    keeper.close();
  });

  it('revoke releases the lease and forgets it', async () => {
    const { kv, calls } = fakeLeases(() => 3);
    const keeper = new LeaseKeeper(kv, timing);
    const id = await keeper.ensure();
    await keeper.revoke(1000);
    expect(calls.revokes).toEqual([id]);
    expect(keeper.valid).toBe(false);
    keeper.close();
  });
});
