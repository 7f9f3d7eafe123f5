import { ID_RULE, isInstanceId } from '../common/names.js';

/**
 * The three durations of a lease-based election, named as in client-go's leaderelection:
 * - lease duration: the etcd lease TTL; etcd deletes the leader key this long after the last renewal
 *   it received;
 * - renew deadline: how long after *sending* its last successful renewal a leader keeps leading. It
 *   is shorter than the lease duration, so a leader cut off from etcd stops before its lease can
 *   expire and another instance can take over;
 * - retry period: how often a leader renews, and how often a candidate retries when it was not told
 *   (by the watch) that the key is free.
 * @internal
 */
export interface LeaseTiming {
  /** Lease duration in seconds (etcd leases are granted in whole seconds). */
  readonly ttl: number;
  /** ms after a renewal was sent during which the holder may still act. */
  readonly renewDeadlineMs: number;
  /** ms between renewals (and between retries). */
  readonly retryPeriodMs: number;
}

/**
 * Derives the timing from a lease TTL with client-go's default ratios (15 s / 10 s / 2 s): renew
 * deadline = 2/3 of the lease, retry period = 1/5 of the lease (at least 250 ms, at most 2 s).
 * @internal
 */
export function leaseTiming(ttl: number): LeaseTiming {
  const leaseMs = ttl * 1000;
  return {
    ttl,
    renewDeadlineMs: Math.floor((leaseMs * 2) / 3),
    retryPeriodMs: Math.max(250, Math.min(2000, Math.floor(leaseMs / 5))),
  };
}

/**
 * Names of elections and locks (each one etcd key segment under its prefix): letters, digits, ".",
 * "_", ":" or "-", no "/". Throws a `TypeError` naming what was given.
 * @internal
 */
export function assertLeaseName(name: string, what: 'election' | 'lock' = 'election'): void {
  if (!isInstanceId(name)) {
    throw new TypeError(`${what} name ${JSON.stringify(name)} is not valid: use ${ID_RULE}`);
  }
}
