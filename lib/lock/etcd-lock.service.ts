import { Logger } from '@nestjs/common';
import { filter, type Subscription } from 'rxjs';
import { describeCause } from '../common/describe-cause.js';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { EtcdStoppedError } from '../errors/etcd-stopped.error.js';
import { leaseTiming } from '../election/election-timing.js';
import { LeaseKeeper } from '../election/lease-keeper.js';
import { assertElectionName } from '../election/leader-only.decorator.js';
import type { ResolvedEtcdOptions } from '../options/resolved-etcd-options.interface.js';
import type { InformerPool } from '../watch/informer-pool.js';
import type { PrefixInformer } from '../watch/prefix-informer.js';
import { EtcdLockLostError } from '../errors/etcd-lock-lost.error.js';
import { EtcdLockTimeoutError } from '../errors/etcd-lock-timeout.error.js';

/** Key prefix of locks (inside the module's namespace). */
export const LOCK_PREFIX = '/locks/';

/** Longest wait for releasing a lock: a dead etcd never makes `withLock` hang after `fn`. */
const RELEASE_TIMEOUT_MS = 3000;

/** Options of {@link EtcdLockService.withLock}. */
export interface WithLockOptions {
  /**
   * Lease TTL in seconds: a holder that dies keeps the lock at most this long.
   * @default registry.ttl (10)
   */
  ttl?: number;
  /**
   * Give up waiting after this many ms with {@link EtcdLockTimeoutError}.
   * @default no limit
   */
  timeout?: number;
}

/**
 * Mutual exclusion across instances, on etcd leases (the recipe of etcd's own `concurrency.Mutex`):
 * each caller puts `/locks/<name>/<lease>` under a fresh lease; the key with the lowest create
 * revision holds the lock, the others wait in that order (first come, first served) and are told by
 * the watch when their turn comes.
 *
 * @example
 * ```ts
 * import { Injectable } from '@nestjs/common';
 * import { EtcdLockService } from 'nest-etcd';
 *
 * @Injectable()
 * export class Billing {
 *   constructor(private readonly locks: EtcdLockService) {}
 *
 *   closeMonth(): Promise<string> {
 *     return this.locks.withLock(
 *       'billing-close',
 *       async signal => {
 *         if (signal.aborted) throw signal.reason;
 *         return 'closed';
 *       },
 *       { ttl: 10, timeout: 5000 },
 *     );
 *   }
 * }
 * ```
 */
export class EtcdLockService {
  private readonly logger = new Logger('EtcdLock');
  private readonly defaultTtl: number;
  private readonly owner: string;

  /** @internal Created by EtcdModule; use injection. */
  constructor(
    private readonly connection: EtcdConnection,
    private readonly informers: InformerPool,
    options: ResolvedEtcdOptions,
  ) {
    this.defaultTtl = options.registry === false ? 10 : options.registry.ttl;
    this.owner = options.registry === false ? `pid-${process.pid}` : options.registry.instanceId;
  }

  /**
   * Runs `fn` while holding the lock `name`, then releases it (also when `fn` throws).
   *
   * `fn` receives an `AbortSignal` that aborts (with {@link EtcdLockLostError}) when the lock can no
   * longer be relied on: no lease renewal was confirmed within the renew deadline (2/3 of the TTL,
   * before etcd can expire it and let another holder in), or the lease or key was removed from
   * outside. Then `withLock` rejects with that error even if `fn` resolves.
   *
   * @throws EtcdLockTimeoutError when the lock was not acquired within `timeout`.
   * @throws EtcdLockLostError when the lock was lost while waiting or while `fn` ran.
   */
  async withLock<T>(
    name: string,
    fn: (signal: AbortSignal) => Promise<T>,
    options: WithLockOptions = {},
  ): Promise<T> {
    assertElectionName(name, 'lock');
    const ttl = options.ttl ?? this.defaultTtl;
    if (!Number.isInteger(ttl) || ttl < 2) {
      throw new TypeError(
        `withLock("${name}"): ttl must be an integer number of seconds >= 2, got ${String(ttl)}`,
      );
    }
    const timeout = options.timeout;
    if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0))) {
      throw new TypeError(
        `withLock("${name}"): timeout must be a positive number of ms, got ${String(timeout)}`,
      );
    }
    if (this.connection.isClosed) {
      throw new EtcdStoppedError(`taking lock "${name}"`, 'because the module is shut down');
    }

    const prefix = `${LOCK_PREFIX}${name}/`;
    const keeper = new LeaseKeeper(this.connection.kv, leaseTiming(ttl));
    const handle = this.informers.acquire(prefix);
    const subscriptions: Subscription[] = [];
    let timer: NodeJS.Timeout | undefined;
    try {
      const acquiring = this.acquire(name, prefix, keeper, handle.informer, subscriptions);
      // When the timeout wins, the abandoned attempt may still fail later: never unhandled.
      acquiring.catch(() => undefined);
      const key =
        timeout === undefined
          ? await acquiring
          : await Promise.race([
              acquiring,
              new Promise<never>((_, reject) => {
                timer = setTimeout(() => reject(new EtcdLockTimeoutError(name, timeout)), timeout);
              }),
            ]);
      clearTimeout(timer);
      for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();

      const controller = new AbortController();
      const lose = (reason: string) => {
        if (!controller.signal.aborted) {
          this.logger.warn(`lock "${name}" lost while held: ${reason}`);
          controller.abort(new EtcdLockLostError(name, reason));
        }
      };
      subscriptions.push(
        keeper.lost$.subscribe(reason => lose(reason)),
        handle.informer.changes$
          .pipe(filter(change => change.key === key && change.type === 'delete'))
          .subscribe(() => lose('the lock key was deleted')),
      );
      if (!keeper.valid) lose('the lease could not be renewed in time');
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
      clearTimeout(timer);
      for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
      keeper.close();
      try {
        await keeper.revoke(RELEASE_TIMEOUT_MS);
      } catch (err) {
        this.logger.warn(
          `could not release lock "${name}" (${describeCause(err)}); it expires within ${ttl}s`,
        );
      }
      handle.release();
    }
  }

  /** Queues under the lock's prefix and resolves with our key once it is first in line. */
  private async acquire(
    name: string,
    prefix: string,
    keeper: LeaseKeeper,
    informer: PrefixInformer,
    subscriptions: Subscription[],
  ): Promise<string> {
    const lease = await keeper.ensure();
    keeper.startHeartbeat();
    const key = `${prefix}${lease}`;
    const put = await this.connection.kv
      .put(key)
      .value(JSON.stringify({ owner: this.owner, since: new Date().toISOString() }))
      .lease(lease)
      .options({ deadline: Date.now() + Math.max(1000, keeper.timing.retryPeriodMs) });
    const createdAt = Number(put.header.revision);
    return new Promise<string>((resolve, reject) => {
      let done = false;
      const finish = (outcome: () => void) => {
        if (done) return;
        done = true;
        outcome();
      };
      const check = () => {
        if (done) return;
        // A view older than our own put cannot tell where we stand in the queue.
        const view = informer.current();
        if (!informer.state.synced || view.revision < createdAt) return;
        if (informer.get(key) === undefined) {
          finish(() =>
            reject(new EtcdLockLostError(name, 'the lock key disappeared while waiting')),
          );
          return;
        }
        let first: { key: string; createRevision: number } | undefined;
        for (const entry of view.entries) {
          if (!first || entry.createRevision < first.createRevision) first = entry;
        }
        if (first?.key === key) {
          if (keeper.valid) finish(() => resolve(key));
          else
            finish(() =>
              reject(new EtcdLockLostError(name, 'the lease could not be renewed in time')),
            );
        }
      };
      subscriptions.push(
        informer.state$.subscribe(check),
        informer.changes$.subscribe(check),
        keeper.lost$.subscribe(reason => finish(() => reject(new EtcdLockLostError(name, reason)))),
      );
      check();
    });
  }
}
