import { Logger } from '@nestjs/common';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { EtcdStoppedError } from '../errors/etcd-stopped.error.js';
import { etcdLeasePort } from '../lease/etcd-lease-port.js';
import { LeaseEngine } from '../lease/lease-engine.js';
import { assertLeaseName } from '../lease/lease-timing.js';
import type { ResolvedEtcdOptions } from '../options/resolved-etcd-options.interface.js';
import type { InformerPool } from '../watch/informer-pool.js';
import { etcdLockPort } from './etcd-lock-port.js';
import { LockEngine } from './lock-engine.js';

/** Key prefix of locks (inside the module's namespace). */
export const LOCK_PREFIX = '/locks/';

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
  private readonly defaultTtl: number;
  private readonly engine: LockEngine;

  /** @internal Created by EtcdModule; use injection. */
  constructor(
    private readonly connection: EtcdConnection,
    informers: InformerPool,
    options: ResolvedEtcdOptions,
  ) {
    this.defaultTtl = options.registry === false ? 10 : options.registry.ttl;
    this.engine = new LockEngine(
      etcdLockPort(connection, informers),
      new LeaseEngine(etcdLeasePort(connection, 'lock')),
      options.registry === false ? `pid-${process.pid}` : options.registry.instanceId,
      new Logger('EtcdLock'),
    );
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
    assertLeaseName(name, 'lock');
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
    return this.engine.withLock(name, `${LOCK_PREFIX}${name}/`, ttl, timeout, fn);
  }
}
