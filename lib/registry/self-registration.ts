import { BehaviorSubject, distinctUntilChanged, type Observable, type Subscription } from 'rxjs';
import { backoffDelay } from '../common/backoff.js';
import { systemClock, type Clock } from '../common/clock.js';
import { within } from '../common/timing.js';
import { EtcdStoppedError } from '../errors/etcd-stopped.error.js';
import type { Lease, LeaseEngine, LeaseLoss } from '../lease/lease-engine.js';
import { LeaseGoneError } from '../lease/lease-port.js';
import type { KeyHolder, OwnKeyEvent, RegistrationPort } from './registration-port.js';
import type { ServiceInstance } from '../discovery/service-instance.interface.js';
import type { RegistryStatus } from './registry-status.interface.js';

/** The log lines a {@link SelfRegistration} writes. @internal */
export interface RegistrationLogger {
  debug(message: string): void;
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Options of a {@link SelfRegistration}. @internal */
export interface SelfRegistrationOptions {
  /** Lease seconds. */
  ttl: number;
  retry: { initialDelay: number; maxDelay: number };
  logger: RegistrationLogger;
  /** Status before the first {@link SelfRegistration.start}. */
  initialStatus: RegistryStatus;
  clock?: Clock;
  /** Jitter source of the backoff. */
  random?: () => number;
}

/** How a start ended for the boot wait: confirmed, or the key belongs to another process. @internal */
export type RegistrationOutcome = 'registered' | 'conflict' | 'stopped';

/**
 * Where the registration stands: what it does next. Every transition is in {@link SelfRegistration.step}
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
 * {@link SelfRegistration.stop} ends it (status `deregistered`). A failed call retries its phase
 * with jittered backoff (one warning per streak).
 * @internal
 */
export type RegistrationPhase =
  'grant' | 'revive' | 'verify' | 'check' | 'put' | 'hold' | 'conflict';

interface Run {
  readonly instance: ServiceInstance;
  readonly key: string;
  readonly value: string;
  readonly registered: Promise<ServiceInstance>;
  resolve(instance: ServiceInstance): void;
  reject(err: Error): void;
  settled: boolean;
  readonly waiters: Array<(outcome: RegistrationOutcome) => void>;
}

/**
 * This app's own registration: a key kept alive under a lease (granted and renewed by the
 * {@link LeaseEngine}), healed for ever (a lost lease is replaced and the key put again, with
 * jittered backoff; a key deleted from outside is put back), a single-key watch on the key itself
 * (outside deletes, another process writing the same key), the one status subject and `self`. It
 * never fights over the key: when another lease holds it, it says so once and waits for that lease
 * to end. Every etcd call is bounded; `stop()` clears every timer. See {@link RegistrationPhase}.
 * @internal
 */
export class SelfRegistration {
  private readonly statusSubject: BehaviorSubject<RegistryStatus>;
  /** Current value first, no repeats. */
  readonly status$: Observable<RegistryStatus>;
  private readonly clock: Clock;
  private run: Run | undefined;
  private generation = 0;
  private phaseValue: RegistrationPhase = 'grant';
  private current: ServiceInstance | undefined;
  private lease: Lease | undefined;
  private leaseSubscription: Subscription | undefined;
  /** The lease the local clock gave up on, to ask etcd about before granting a new one. */
  private reviveId: string | undefined;
  /** Leases this app put the key with (echoes of our own puts are not another writer). */
  private readonly ownLeases = new Set<string>();
  /** Revision of our last put: older watch events of the key are stale. */
  private putRevision = 0;
  /** The key was put under the current lease (so its absence means someone deleted it). */
  private published = false;
  private holder: KeyHolder | undefined;
  private failures = 0;
  private quiet = false;
  private cancelTimer: (() => void) | undefined;
  private inflight: Promise<void> | undefined;
  private again = false;
  private watchSubscription: Subscription | undefined;

  constructor(
    private readonly port: RegistrationPort,
    private readonly leases: LeaseEngine,
    private readonly options: SelfRegistrationOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.statusSubject = new BehaviorSubject<RegistryStatus>(options.initialStatus);
    this.status$ = this.statusSubject.pipe(distinctUntilChanged());
  }

  /** The current status. */
  get status(): RegistryStatus {
    return this.statusSubject.getValue();
  }

  /** What the registration does next (see {@link RegistrationPhase}). */
  get phase(): RegistrationPhase {
    return this.phaseValue;
  }

  /** This app's instance once etcd confirmed its key (kept while healing), else `undefined`. */
  get self(): ServiceInstance | undefined {
    return this.current;
  }

  /** The promise of the current start (see {@link start}), while active. */
  get pending(): Promise<ServiceInstance> | undefined {
    return this.run?.registered;
  }

  /** True between {@link start} and {@link stop}. */
  get active(): boolean {
    return this.run !== undefined;
  }

  /**
   * Starts keeping `key` = `value` alive; resolves once etcd holds it, rejects with
   * `EtcdStoppedError` when stopped first. A second call while active returns the same promise.
   */
  start(instance: ServiceInstance, key: string, value: string): Promise<ServiceInstance> {
    if (this.run) return this.run.registered;
    let resolve!: (instance: ServiceInstance) => void;
    let reject!: (err: Error) => void;
    const registered = new Promise<ServiceInstance>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    registered.catch(() => undefined);
    this.run = { instance, key, value, registered, resolve, reject, settled: false, waiters: [] };
    this.generation++;
    this.ownLeases.clear();
    this.putRevision = 0;
    this.published = false;
    this.holder = undefined;
    this.reviveId = undefined;
    this.failures = 0;
    this.quiet = false;
    this.phaseValue = 'grant';
    this.setStatus('registering');
    this.options.logger.debug(`registering ${key} (ttl ${this.options.ttl}s)`);
    this.watchSubscription = this.port.watch(key).subscribe(event => this.onKeyEvent(event));
    this.schedule(0);
    return registered;
  }

  /**
   * Resolves when the current start is settled one way or another: registered, the key held by
   * another process, or stopped. Never rejects.
   */
  outcome(): Promise<RegistrationOutcome> {
    const run = this.run;
    if (!run) return Promise.resolve('stopped');
    if (this.status === 'registered') return Promise.resolve('registered');
    if (this.holder) return Promise.resolve('conflict');
    return new Promise(resolve => run.waiters.push(resolve));
  }

  /**
   * Stops renewing and, when `revoke` is set, revokes the lease (which deletes the key). Never
   * waits longer than `timeoutMs`. The status becomes `deregistered`.
   */
  async stop(revoke: boolean, timeoutMs: number): Promise<void> {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    this.generation++;
    this.clearTimer();
    this.watchSubscription?.unsubscribe();
    this.watchSubscription = undefined;
    const deadline = this.clock.now() + timeoutMs;
    if (this.inflight) await within(this.inflight, timeoutMs).catch(() => undefined);
    const lease = this.dropLease();
    if (lease) {
      if (revoke) {
        try {
          await lease.revoke(Math.max(200, deadline - this.clock.now()));
        } catch (err) {
          this.options.logger.warn(
            `could not revoke lease of ${run.key} (${this.leases.describe(err)}); it expires within ${this.options.ttl}s`,
          );
        }
      } else {
        lease.release();
      }
    }
    const forgotten = this.reviveId;
    this.reviveId = undefined;
    if (forgotten && revoke) {
      // A lease the local clock gave up on may still be alive in etcd: revoke it too.
      await this.leases
        .revoke(forgotten, Math.max(200, deadline - this.clock.now()))
        .catch(() => undefined);
    }
    this.current = undefined;
    this.setStatus('deregistered');
    if (!run.settled) {
      run.settled = true;
      run.reject(new EtcdStoppedError(`registration of ${run.key}`, 'before it completed'));
    }
    this.notify(run, 'stopped');
  }

  /** Ends `status$` (module destroy). */
  complete(): void {
    this.statusSubject.complete();
  }

  // ---- events ----

  /** The own-key watch: a delete or a resumed watch → verify; another writer → conflict. */
  private onKeyEvent(event: OwnKeyEvent): void {
    const run = this.run;
    if (!run) return;
    if (
      event.type !== 'resync' &&
      event.revision !== undefined &&
      event.revision <= this.putRevision
    )
      return;
    if (event.type === 'put') {
      if (this.ownLeases.has(event.lease)) return;
      this.onConflict(run, { lease: event.lease, value: event.value });
      return;
    }
    // A delete (or a watch that may have missed one): say nothing yet. `verify` learns whether our
    // lease is gone (expired, revoked) or only the key was deleted, and names the right cause.
    if (this.phaseValue === 'hold' || this.phaseValue === 'conflict') {
      this.phaseValue = this.lease ? 'verify' : 'grant';
      this.schedule(0);
    }
  }

  /** The engine says the lease is gone or can no longer have been renewed in time. */
  private onLeaseLost(run: Run, lease: Lease, loss: LeaseLoss): void {
    if (lease !== this.lease || this.run !== run) return;
    this.dropLease();
    const { ttl } = this.options;
    if (loss.cause === 'expired') {
      // Only the local clock gave up: etcd may well have kept the lease (it restores and extends
      // leases after a restart). Ask etcd before replacing it, as etcd's Go client does.
      this.reviveId = lease.id;
      this.phaseValue = 'revive';
      this.markLost(
        run,
        `no renewal of lease ${lease.id} confirmed for ${(loss.silentMs / 1000).toFixed(1)}s, ` +
          `the ${ttl}s TTL (was the event loop blocked, or etcd unreachable?); ` +
          'keeping it if etcd says it is alive, else granting a new one',
      );
    } else {
      this.reviveId = undefined;
      this.phaseValue = 'grant';
      this.markLost(
        run,
        loss.silentMs > ttl * 1000
          ? `lease ${lease.id} expired: no heartbeat reached etcd for ${(loss.silentMs / 1000).toFixed(1)}s, ` +
              `longer than the ${ttl}s TTL (was the event loop blocked, or etcd unreachable?); granting a new one`
          : `lease ${lease.id} expired or was revoked; granting a new one`,
      );
    }
    this.schedule(backoffDelay(this.failures++, this.options.retry, this.options.random));
  }

  /** Another writer holds the key: one error line per holder, no put-fight, keep the lease. */
  private onConflict(run: Run, holder: KeyHolder): void {
    if (this.holder?.lease !== holder.lease) {
      this.options.logger.error(
        `registration key ${run.key} is held by another writer (lease ${holder.lease}, value ${preview(holder.value)}): ` +
          'two instances use the same serviceName and instanceId, so this one is not published. ' +
          'It keeps serving and takes the key only when that lease ends; give each instance its own registry.instanceId',
      );
    }
    this.holder = holder;
    this.published = false;
    this.quiet = true;
    this.phaseValue = 'conflict';
    if (this.status === 'registered') this.setStatus('lost');
    this.notify(run, 'conflict');
    this.schedule(this.period());
  }

  // ---- the loop ----

  private schedule(ms: number): void {
    if (!this.run) return;
    this.clearTimer();
    this.cancelTimer = this.clock.setTimer(() => {
      this.cancelTimer = undefined;
      this.kick();
    }, ms);
  }

  private clearTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private kick(): void {
    if (this.inflight) {
      this.again = true;
      return;
    }
    this.inflight = this.step(this.generation).finally(() => {
      this.inflight = undefined;
      if (this.again && this.run) {
        this.again = false;
        this.schedule(0);
      }
    });
  }

  /** Runs the action of the current phase once (see {@link RegistrationPhase}). */
  private async step(generation: number): Promise<void> {
    const run = this.run;
    if (!run) return;
    const stale = () => generation !== this.generation || this.run !== run;
    const phase = this.phaseValue;
    try {
      switch (phase) {
        case 'grant':
          await this.grant(run, stale);
          break;
        case 'revive':
          await this.revive(run, stale);
          break;
        case 'verify':
          await this.verify(stale);
          break;
        case 'check':
        case 'conflict':
          await this.check(run, stale);
          break;
        case 'put':
          await this.put(run, stale);
          break;
        case 'hold':
          return;
      }
      if (stale()) return;
      this.failures = 0;
      this.quiet = false;
      if (this.phaseValue === 'hold') this.confirm(run);
      else if (this.phaseValue !== 'conflict') this.schedule(0);
    } catch (err) {
      if (stale()) return;
      if (err instanceof LeaseGoneError && this.lease) {
        this.lease.markGone(this.leases.describe(err)); // → onLeaseLost → grant
        return;
      }
      if (!this.quiet) {
        this.quiet = true;
        this.options.logger.warn(
          `registration of ${run.key}: ${phase} failed (${this.port.describe(err)}); retrying`,
        );
      }
      this.schedule(
        Math.min(
          backoffDelay(this.failures++, this.options.retry, this.options.random),
          this.period(),
        ),
      );
    }
  }

  private async grant(run: Run, stale: () => boolean): Promise<void> {
    const lease = await this.leases.grant({ ttl: this.options.ttl, timeoutMs: this.callTimeout() });
    if (stale()) {
      lease.release();
      return;
    }
    this.adopt(run, lease);
  }

  private adopt(run: Run, lease: Lease): void {
    this.lease = lease;
    this.published = false;
    this.leaseSubscription = lease.lost$.subscribe(loss => this.onLeaseLost(run, lease, loss));
    if (this.lease === lease) this.phaseValue = 'check';
  }

  /**
   * The local clock gave up on the lease: one keep-alive asks etcd. Alive → keep it (same lease, the
   * key is read and put back only if it is missing); gone → grant a new one; no answer → retried
   * with jittered backoff by {@link step}.
   */
  private async revive(run: Run, stale: () => boolean): Promise<void> {
    const id = this.reviveId;
    if (!id) {
      this.phaseValue = 'grant';
      return;
    }
    const lease = await this.leases.revive(id, {
      ttl: this.options.ttl,
      timeoutMs: this.callTimeout(),
    });
    if (stale()) {
      lease?.release();
      return;
    }
    this.reviveId = undefined;
    if (!lease) {
      this.options.logger.log(`lease ${id} of ${run.key} is gone in etcd; granting a new one`);
      this.phaseValue = 'grant';
      return;
    }
    this.options.logger.debug(`lease ${id} of ${run.key} is still alive in etcd; keeping it`);
    this.adopt(run, lease);
  }

  /** After a delete of the key (or a resumed watch): is our lease still alive? */
  private async verify(stale: () => boolean): Promise<void> {
    const lease = this.lease;
    if (!lease) {
      this.phaseValue = 'grant';
      return;
    }
    const answer = await lease.check(this.callTimeout());
    if (stale() || lease !== this.lease) return;
    if (answer === 'unknown') throw new Error('no keep-alive answer');
    if (answer === 'alive') this.phaseValue = 'check';
  }

  private async check(run: Run, stale: () => boolean): Promise<void> {
    const lease = this.lease;
    if (!lease) {
      this.phaseValue = 'grant';
      return;
    }
    const holder = await this.port.get(run.key, this.callTimeout());
    if (stale() || lease !== this.lease) return;
    if (holder && holder.lease !== lease.id && !this.ownLeases.has(holder.lease)) {
      this.onConflict(run, holder);
      return;
    }
    if (this.holder) {
      this.options.logger.log(`registration key ${run.key} is free again; taking it`);
      this.holder = undefined;
    }
    if (holder?.lease === lease.id && holder.value === run.value) {
      this.phaseValue = 'hold';
      return;
    }
    if (!holder && this.published) {
      this.options.logger.warn(
        `registration key ${run.key} was deleted from outside; putting it back`,
      );
      this.setStatus('lost');
    }
    this.phaseValue = 'put';
  }

  private async put(run: Run, stale: () => boolean): Promise<void> {
    const lease = this.lease;
    if (!lease) {
      this.phaseValue = 'grant';
      return;
    }
    this.ownLeases.add(lease.id);
    const revision = await this.port.put(run.key, run.value, lease.id, this.callTimeout());
    if (stale() || lease !== this.lease) return;
    this.putRevision = Math.max(this.putRevision, revision);
    this.published = true;
    this.phaseValue = 'hold';
  }

  /** Entered `hold`: registered. */
  private confirm(run: Run): void {
    if (this.status !== 'registered') {
      this.options.logger.log(
        `registered ${run.key} (lease ${this.lease?.id}, ttl ${this.options.ttl}s)`,
      );
    }
    this.current = run.instance;
    this.setStatus('registered');
    if (!run.settled) {
      run.settled = true;
      run.resolve(run.instance);
    }
    this.notify(run, 'registered');
  }

  private dropLease(): Lease | undefined {
    const lease = this.lease;
    this.lease = undefined;
    this.published = false;
    this.leaseSubscription?.unsubscribe();
    this.leaseSubscription = undefined;
    return lease;
  }

  /** The renewal period: ttl / 3 (how often a conflict is re-checked, the longest retry). */
  private period(): number {
    return Math.max(500, (this.options.ttl * 1000) / 3);
  }

  /**
   * The bound of one call: half the TTL (at least 2 s), so a slow etcd (a busy disk delays every
   * write) does not turn a merely slow registration into a failed one.
   */
  private callTimeout(): number {
    return Math.max(2000, (this.options.ttl * 1000) / 2);
  }

  /** One warning line per loss; the retries that follow stay quiet until it is registered again. */
  private markLost(run: Run, reason: string): void {
    if (this.status !== 'lost') {
      this.options.logger.warn(`registration ${run.key} lost: ${reason}`);
    }
    this.quiet = true;
    if (this.status === 'registered' || this.status === 'lost') this.setStatus('lost');
  }

  private notify(run: Run, outcome: RegistrationOutcome): void {
    for (const waiter of run.waiters.splice(0)) waiter(outcome);
  }

  private setStatus(status: RegistryStatus): void {
    if (this.statusSubject.getValue() !== status && !this.statusSubject.closed) {
      this.statusSubject.next(status);
    }
  }
}

function preview(value: string): string {
  return value.length > 120 ? `${value.slice(0, 117)}...` : value;
}
