import { BehaviorSubject, distinctUntilChanged, type Observable, type Subscription } from 'rxjs';
import { backoffDelay } from '../common/backoff.js';
import { within } from '../common/timing.js';
import { EtcdStoppedError } from '../errors/etcd-stopped.error.js';
import {
  LeaseGoneError,
  systemClock,
  type Clock,
  type KeyHolder,
  type OwnKeyEvent,
  type RegistrationPort,
} from './registration-port.js';
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
 * This app's own registration, the whole of it in one place: a key kept alive under a lease
 * (grant, put, one heartbeat every `ttl / 3`), healed for ever (a lost lease is replaced and the key
 * put again, with jittered backoff; a key deleted from outside is put back), a watch on the key
 * itself (outside deletes, another process writing the same key), the one status subject and
 * `self`. It never fights over the key: when another lease holds it, it says so once and waits for
 * that lease to end. Every etcd call is bounded; `stop()` clears every timer.
 * @internal
 */
export class SelfRegistration {
  private readonly statusSubject: BehaviorSubject<RegistryStatus>;
  /** Current value first, no repeats. */
  readonly status$: Observable<RegistryStatus>;
  private readonly clock: Clock;
  private run: Run | undefined;
  private generation = 0;
  private current: ServiceInstance | undefined;
  private leaseId: string | undefined;
  /** Leases this app put the key with (echoes of our own puts are not another writer). */
  private readonly ownLeases = new Set<string>();
  /** Revision of our last put: older watch events of the key are stale. */
  private putRevision = 0;
  private needsPut = true;
  private deletedSeen = false;
  private holder: KeyHolder | undefined;
  private lastHeartbeat = 0;
  private failures = 0;
  private quiet = false;
  private timer: unknown;
  private inflight: Promise<void> | undefined;
  private again = false;
  private watchSubscription: Subscription | undefined;

  constructor(
    private readonly port: RegistrationPort,
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
   * `EtcdStoppedError` when stopped first. A second call while active returns the
   * same promise.
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
    this.leaseId = undefined;
    this.ownLeases.clear();
    this.putRevision = 0;
    this.needsPut = true;
    this.deletedSeen = false;
    this.holder = undefined;
    this.failures = 0;
    this.quiet = false;
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
   * Stops heart-beating and, when `revoke` is set, revokes the lease (which deletes the key). Never
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
    const lease = this.leaseId;
    this.leaseId = undefined;
    if (revoke && lease) {
      try {
        await this.port.revoke(lease, Math.max(200, deadline - this.clock.now()));
      } catch (err) {
        this.options.logger.warn(
          `could not revoke lease of ${run.key} (${this.port.describe(err)}); it expires within ${this.options.ttl}s`,
        );
      }
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

  private onKeyEvent(event: OwnKeyEvent): void {
    const run = this.run;
    if (!run || (event.revision !== undefined && event.revision <= this.putRevision)) return;
    if (event.type === 'delete') {
      // Say nothing yet: the next step learns whether our lease is gone (expired, revoked) or only
      // the key was deleted, and names the right cause.
      this.deletedSeen = true;
      this.schedule(0);
      return;
    }
    const lease = event.lease ?? '0';
    if (this.ownLeases.has(lease)) return;
    this.onConflict(run, { lease, value: event.value ?? '' });
  }

  /** Another writer holds the key: one error line per holder, no put-fight, keep heart-beating. */
  private onConflict(run: Run, holder: KeyHolder): void {
    if (this.holder?.lease !== holder.lease) {
      this.options.logger.error(
        `registration key ${run.key} is held by another writer (lease ${holder.lease}, value ${preview(holder.value)}): ` +
          'two instances use the same serviceName and instanceId, so this one is not published. ' +
          'It keeps serving and takes the key only when that lease ends; give each instance its own registry.instanceId',
      );
    }
    this.holder = holder;
    this.needsPut = true;
    this.quiet = true;
    if (this.status === 'registered') this.setStatus('lost');
    this.notify(run, 'conflict');
  }

  private schedule(ms: number): void {
    if (!this.run) return;
    this.clearTimer();
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, ms);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
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

  private async step(generation: number): Promise<void> {
    const run = this.run;
    if (!run) return;
    const stale = () => generation !== this.generation;
    const { ttl } = this.options;
    // Heartbeat every ttl/3; give each call up to half the TTL (at least 2 s) so a slow etcd (a
    // busy disk delays every write) does not turn a merely slow registration into a failed one.
    const interval = Math.max(500, (ttl * 1000) / 3);
    const callTimeout = Math.max(2000, (ttl * 1000) / 2);
    try {
      if (!this.leaseId) {
        const lease = await this.port.grant(ttl, callTimeout);
        this.leaseId = lease;
        if (stale()) return;
        this.lastHeartbeat = this.clock.now();
        this.needsPut = true;
        this.deletedSeen = false;
      } else {
        // A keep-alive is answered by the leader from memory (no disk write): a short bound, so
        // that one lost on a flapping link is retried several times within the TTL (issue 11
        // finding 3). A timed-out keep-alive never resets the connection (transport rule).
        const keepAliveTimeout = Math.min(callTimeout, Math.max(500, (ttl * 1000) / 10));
        const remaining = await this.port.keepAlive(this.leaseId, keepAliveTimeout);
        if (stale()) return;
        if (remaining <= 0) throw new LeaseGoneError('lease expired');
        this.lastHeartbeat = this.clock.now();
      }
      if (this.deletedSeen) {
        this.deletedSeen = false;
        if (!this.needsPut && !this.holder) {
          this.options.logger.warn(
            `registration key ${run.key} was deleted from outside; putting it back`,
          );
          this.setStatus('lost');
        }
        this.needsPut = true;
      }
      if (this.needsPut) {
        const lease = this.leaseId;
        const holder = await this.port.get(run.key, callTimeout);
        if (stale()) return;
        if (holder && holder.lease !== lease && !this.ownLeases.has(holder.lease)) {
          this.onConflict(run, holder);
          this.schedule(interval);
          return;
        }
        if (this.holder) {
          this.options.logger.log(`registration key ${run.key} is free again; taking it`);
          this.holder = undefined;
        }
        this.ownLeases.add(lease);
        const revision = await this.port.put(run.key, run.value, lease, callTimeout);
        if (stale()) return;
        this.putRevision = Math.max(this.putRevision, revision);
        this.needsPut = false;
        this.lastHeartbeat = this.clock.now();
      }
      this.failures = 0;
      this.quiet = false;
      if (this.status !== 'registered') {
        this.options.logger.log(`registered ${run.key} (lease ${this.leaseId}, ttl ${ttl}s)`);
      }
      this.current = run.instance;
      this.setStatus('registered');
      if (!run.settled) {
        run.settled = true;
        run.resolve(run.instance);
      }
      this.notify(run, 'registered');
      this.schedule(interval);
    } catch (err) {
      if (stale()) return;
      const random = this.options.random;
      if (err instanceof LeaseGoneError) {
        const lease = this.leaseId;
        const silentMs = this.clock.now() - this.lastHeartbeat;
        this.leaseId = undefined;
        this.needsPut = true;
        this.deletedSeen = false;
        this.markLost(
          run,
          silentMs > ttl * 1000
            ? `lease ${lease} expired: no heartbeat reached etcd for ${(silentMs / 1000).toFixed(1)}s, ` +
                `longer than the ${ttl}s TTL (was the event loop blocked, or etcd unreachable?); granting a new one`
            : `lease ${lease} expired or was revoked; granting a new one`,
        );
        this.schedule(backoffDelay(this.failures++, this.options.retry, random));
        return;
      }
      const reason = this.port.describe(err);
      this.failures++;
      if (this.status === 'registered' && this.clock.now() - this.lastHeartbeat > ttl * 1000) {
        this.markLost(run, `no heartbeat for over ${ttl}s (${reason}); retrying`);
      } else if (!this.quiet) {
        this.quiet = true;
        this.options.logger.warn(`heartbeat of ${run.key} failed (${reason}); retrying`);
      }
      this.schedule(Math.min(backoffDelay(this.failures, this.options.retry, random), interval));
    }
  }

  /** One warning line per loss; the retries that follow stay quiet until it is registered again. */
  private markLost(run: Run, reason: string): void {
    if (this.status !== 'lost') {
      this.options.logger.warn(`registration ${run.key} lost: ${reason}`);
    }
    this.quiet = true;
    this.setStatus('lost');
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
