import type { Clock } from '../common/clock.js';
import type { RegistryStatus } from './registry-status.interface.js';

/** The log lines a `SelfRegistration` writes. @internal */
export interface RegistrationLogger {
  debug(message: string): void;
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Options of a `SelfRegistration`. @internal */
export interface SelfRegistrationOptions {
  /** Lease seconds. */
  ttl: number;
  retry: { initialDelay: number; maxDelay: number };
  logger: RegistrationLogger;
  /** Status before the first `SelfRegistration.start`. */
  initialStatus: RegistryStatus;
  clock?: Clock;
  /** Jitter source of the backoff. */
  random?: () => number;
}

/** How a start ended for the boot wait: confirmed, or the key belongs to another process. @internal */
export type RegistrationOutcome = 'registered' | 'conflict' | 'stopped';

/**
 * Where the registration stands: what it does next. Every transition is in `SelfRegistration.step`
 * (the action of each phase) or in one of the event handlers (lease lost, own-key watch):
 *
 * | phase      | action                          | next                                                  |
 * | ---------- | ------------------------------- | ----------------------------------------------------- |
 * | `grant`    | grant a lease (engine)          | `check`; failed: `grant` after backoff                |
 * | `revive`   | one keep-alive of the old lease | alive: `check` (same lease); gone: `grant`; no answer: `revive` after backoff |
 * | `verify`   | one keep-alive now              | `check` (alive); lease gone: `grant` (lost$)          |
 * | `check`    | read the key                    | free or ours: `put`; another lease: `conflict`        |
 * | `put`      | put the key under the lease     | `hold` (status `registered`)                          |
 * | `hold`     | nothing: the engine renews      | key deleted / watch resumed: `verify`; other put: `conflict` |
 * | `conflict` | read the key every period       | freed: `put` (one log line); still held: `conflict`   |
 *
 * From any phase: the lease gone (etcd said so) → `grant` after backoff; no renewal confirmed
 * within the TTL by the local clock (an etcd outage, a blocked loop) → `revive` after jittered
 * backoff: etcd restores leases after a restart and extends them, so the old lease is kept when
 * etcd says it is alive and replaced only when etcd says it is gone (status `lost` meanwhile if it
 * was registered, as nothing confirms it);
 * `SelfRegistration.stop` ends it (status `deregistered`). A failed call retries its phase
 * with jittered backoff (one warning per streak).
 * @internal
 */
export type RegistrationPhase =
  'grant' | 'revive' | 'verify' | 'check' | 'put' | 'hold' | 'conflict';
