import type { Subscription } from 'rxjs';
import { systemClock, type Clock } from '../common/clock.js';
import { EtcdLockLostError } from '../errors/etcd-lock-lost.error.js';
import { EtcdLockTimeoutError } from '../errors/etcd-lock-timeout.error.js';
import type { Lease, LeaseEngine } from '../lease/lease-engine.js';
import { leaseTiming } from '../lease/lease-timing.js';
import type { LockPort, LockQueueView } from './lock-port.js';

/** Longest wait for releasing a lock: a dead etcd never makes `withLock` hang after `fn`. */
const RELEASE_TIMEOUT_MS = 3000;

/** The log lines a {@link LockEngine} writes. @internal */
export interface LockLogger {
  warn(message: string): void;
}

/**
 * The rules of `EtcdLockService.withLock`, on a narrow {@link LockPort}, the {@link LeaseEngine}
 * and a {@link Clock} (unit-tested on fakes: test/unit/lock-engine.spec.ts). The recipe is etcd's
 * own `concurrency.Mutex`: each caller puts `<prefix><lease>` under a fresh lease; the key with the
 * lowest create revision holds the lock. The lease is kept with the lock's bound (the renew
 * deadline, 2/3 of the TTL): the holder's signal aborts when no renewal was confirmed within it,
 * which is before etcd can expire the lease and let the next one in.
 * @internal
 */
export class LockEngine {
  constructor(
    private readonly port: LockPort,
    private readonly leases: LeaseEngine,
    private readonly owner: string,
    private readonly logger: LockLogger,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Runs `fn` while holding the lock `name` under `prefix`; see `EtcdLockService.withLock`. */
  async withLock<T>(
    name: string,
    prefix: string,
    ttl: number,
    timeout: number | undefined,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const timing = leaseTiming(ttl);
    const callTimeout = Math.max(2000, (ttl * 1000) / 2);
    const subscriptions: Subscription[] = [];
    let lease: Lease | undefined;
    let abandoned = false;
    let cancelTimeout: (() => void) | undefined;
    try {
      const acquiring = (async () => {
        const granted = await this.leases.grant({
          ttl,
          renewEveryMs: timing.retryPeriodMs,
          boundMs: timing.renewDeadlineMs,
          timeoutMs: callTimeout,
        });
        if (abandoned) {
          // the timeout won while the grant was on its way: nobody will use this lease
          void this.release(name, ttl, granted);
          throw new EtcdLockTimeoutError(name, timeout ?? 0);
        }
        lease = granted;
        const key = `${prefix}${granted.id}`;
        const value = JSON.stringify({
          owner: this.owner,
          since: new Date(this.clock.wallNow()).toISOString(),
        });
        const createdAt = await this.port.enqueue(key, value, granted.id, callTimeout);
        if (abandoned) throw new EtcdLockTimeoutError(name, timeout ?? 0);
        await this.firstInLine(name, prefix, key, createdAt, granted, subscriptions);
        return { key, createdAt };
      })();
      // When the timeout wins, the abandoned attempt may still fail later: never unhandled.
      acquiring.catch(() => undefined);
      const { key, createdAt } =
        timeout === undefined
          ? await acquiring
          : await Promise.race([
              acquiring,
              new Promise<never>((_, reject) => {
                cancelTimeout = this.clock.setTimer(() => {
                  abandoned = true;
                  reject(new EtcdLockTimeoutError(name, timeout));
                }, timeout);
              }),
            ]);
      cancelTimeout?.();
      const waiting = subscriptions.splice(0);
      const held = lease as unknown as Lease;

      const controller = new AbortController();
      const lose = (reason: string) => {
        if (!controller.signal.aborted) {
          this.logger.warn(`lock "${name}" lost while held: ${reason}`);
          controller.abort(new EtcdLockLostError(name, reason));
        }
      };
      subscriptions.push(
        held.lost$.subscribe(loss =>
          lose(
            loss.cause === 'gone'
              ? 'the lease expired or was revoked'
              : `no renewal confirmed within the renew deadline (${timing.renewDeadlineMs} ms)`,
          ),
        ),
        this.port.queue(prefix).subscribe(view => {
          if (view.synced && view.revision >= createdAt && !view.entries.some(e => e.key === key)) {
            lose('the lock key was deleted');
          }
        }),
      );
      // (the line's informer stays acquired across the hand-over: no second list)
      for (const subscription of waiting) subscription.unsubscribe();
      if (!held.alive) lose('the lease could not be renewed in time');
      let result: T;
      try {
        result = await fn(controller.signal);
      } catch (err) {
        if (controller.signal.aborted) throw controller.signal.reason as Error;
        throw err;
      }
      if (controller.signal.aborted) throw controller.signal.reason as Error;
      return result;
    } finally {
      abandoned = true;
      cancelTimeout?.();
      for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
      await this.release(name, ttl, lease);
    }
  }

  /** Resolves once `key` is first in line (and the lease alive); rejects when that cannot be. */
  private firstInLine(
    name: string,
    prefix: string,
    key: string,
    createdAt: number,
    lease: Lease,
    subscriptions: Subscription[],
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (outcome: () => void) => {
        if (done) return;
        done = true;
        outcome();
      };
      const check = (view: LockQueueView) => {
        // A view older than our own put cannot tell where we stand in the line.
        if (done || !view.synced || view.revision < createdAt) return;
        let first: { key: string; createRevision: number } | undefined;
        let present = false;
        for (const entry of view.entries) {
          if (entry.key === key) present = true;
          if (!first || entry.createRevision < first.createRevision) first = entry;
        }
        if (!present) {
          finish(() =>
            reject(new EtcdLockLostError(name, 'the lock key disappeared while waiting')),
          );
        } else if (first?.key === key) {
          if (lease.alive) finish(resolve);
          else
            finish(() =>
              reject(new EtcdLockLostError(name, 'the lease could not be renewed in time')),
            );
        }
      };
      subscriptions.push(
        lease.lost$.subscribe(loss =>
          finish(() => reject(new EtcdLockLostError(name, loss.message))),
        ),
        this.port.queue(prefix).subscribe(check),
      );
    });
  }

  private async release(name: string, ttl: number, lease: Lease | undefined): Promise<void> {
    if (!lease) return;
    try {
      await lease.revoke(RELEASE_TIMEOUT_MS);
    } catch (err) {
      this.logger.warn(
        `could not release lock "${name}" (${this.leases.describe(err)}); it expires within ${ttl}s`,
      );
    }
  }
}
