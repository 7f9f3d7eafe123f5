import { BehaviorSubject, distinctUntilChanged, type Observable, type Subscription } from 'rxjs';
import { backoffDelay } from '../common/backoff.js';
import { systemClock, type Clock } from '../common/clock.js';
import { within } from '../common/timing.js';
import type { Lease, LeaseEngine, LeaseLoss } from '../lease/lease-engine.js';
import { LeaseGoneError } from '../lease/lease-port.js';
import type { KeyHolder, OwnKeyEvent, RegistrationPort } from './registration-port.js';
import type { ServiceInstance } from '../discovery/service-instance.interface.js';
import type { RegistryStatus } from './registry-status.interface.js';
import type {
  RegistrationOutcome,
  RegistrationPhase,
  SelfRegistrationOptions,
} from './registration.interfaces.js';
import { RegistrationRun } from './registration-run.js';
import { RegistrationLoop, registrationCallTimeout, renewalPeriod } from './registration-loop.js';
import { conflictMessage, leaseLostReason } from './registration-messages.js';
import { HeldLease } from './registration-lease.js';

/**
 * This app's own registration: a key kept alive under a lease (granted and renewed by the
 * {@link LeaseEngine}), healed for ever (a lost lease is replaced and the key put again, with
 * jittered backoff; a key deleted from outside is put back), a single-key watch on the key itself
 * (outside deletes, another process writing the same key), the one status subject and `self`. It
 * never fights over the key: when another lease holds it, it says so once and waits for that lease
 * to end. Every etcd call is bounded; `stop()` clears every timer. The phases and their transitions:
 * {@link RegistrationPhase} (registration.interfaces.ts).
 * @internal
 */
export class SelfRegistration {
  private readonly statusSubject: BehaviorSubject<RegistryStatus>;
  /** Current value first, no repeats. */
  readonly status$: Observable<RegistryStatus>;
  private readonly clock: Clock;
  private readonly loop: RegistrationLoop;
  private run: RegistrationRun | undefined;
  private generation = 0;
  private phaseValue: RegistrationPhase = 'grant';
  private current: ServiceInstance | undefined;
  private readonly held: HeldLease;
  private failures = 0;
  private quiet = false;
  private watchSubscription: Subscription | undefined;

  constructor(
    private readonly port: RegistrationPort,
    private readonly leases: LeaseEngine,
    private readonly options: SelfRegistrationOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.held = new HeldLease(leases, this.clock);
    this.statusSubject = new BehaviorSubject<RegistryStatus>(options.initialStatus);
    this.status$ = this.statusSubject.pipe(distinctUntilChanged());
    this.loop = new RegistrationLoop(
      this.clock,
      () => this.step(this.generation),
      () => this.run !== undefined,
    );
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
    const run = new RegistrationRun(instance, key, value);
    this.run = run;
    this.generation++;
    this.held.published = false;
    this.held.reviveId = undefined;
    this.failures = 0;
    this.quiet = false;
    this.phaseValue = 'grant';
    this.setStatus('registering');
    this.options.logger.debug(`registering ${key} (ttl ${this.options.ttl}s)`);
    this.watchSubscription = this.port.watch(key).subscribe(event => this.onKeyEvent(event));
    this.schedule(0);
    return run.registered;
  }

  /**
   * Resolves when the current start is settled one way or another: registered, the key held by
   * another process, or stopped. Never rejects.
   */
  outcome(): Promise<RegistrationOutcome> {
    const run = this.run;
    if (!run) return Promise.resolve('stopped');
    if (this.status === 'registered') return Promise.resolve('registered');
    if (run.holder) return Promise.resolve('conflict');
    return run.next();
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
    this.loop.clear();
    this.watchSubscription?.unsubscribe();
    this.watchSubscription = undefined;
    const deadline = this.clock.now() + timeoutMs;
    const running = this.loop.running;
    if (running) await within(running, timeoutMs).catch(() => undefined);
    await this.held.end(revoke, deadline, reason =>
      this.options.logger.warn(
        `could not revoke lease of ${run.key} (${reason}); it expires within ${this.options.ttl}s`,
      ),
    );
    this.current = undefined;
    this.setStatus('deregistered');
    run.stopped();
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
    if (run.echoes(event)) return;
    if (event.type === 'put') {
      this.onConflict(run, { lease: event.lease, value: event.value });
      return;
    }
    // A delete (or a watch that may have missed one): say nothing yet. `verify` learns whether our
    // lease is gone (expired, revoked) or only the key was deleted, and names the right cause.
    if (this.phaseValue === 'hold' || this.phaseValue === 'conflict') {
      this.phaseValue = this.held.lease ? 'verify' : 'grant';
      this.schedule(0);
    }
  }

  /** The engine says the lease is gone or can no longer have been renewed in time. */
  private onLeaseLost(run: RegistrationRun, lease: Lease, loss: LeaseLoss): void {
    if (lease !== this.held.lease || this.run !== run) return;
    this.held.drop();
    if (loss.cause === 'expired') {
      // Only the local clock gave up: etcd may well have kept the lease (it restores and extends
      // leases after a restart). Ask etcd before replacing it, as etcd's Go client does.
      this.held.reviveId = lease.id;
      this.phaseValue = 'revive';
    } else {
      this.held.reviveId = undefined;
      this.phaseValue = 'grant';
    }
    this.markLost(run, leaseLostReason(lease.id, loss, this.options.ttl));
    this.schedule(backoffDelay(this.failures++, this.options.retry, this.options.random));
  }

  /** Another writer holds the key: one error line per holder, no put-fight, keep the lease. */
  private onConflict(run: RegistrationRun, holder: KeyHolder): void {
    if (run.holder?.lease !== holder.lease)
      this.options.logger.error(conflictMessage(run.key, holder));
    run.holder = holder;
    this.held.published = false;
    this.quiet = true;
    this.phaseValue = 'conflict';
    if (this.status === 'registered') this.setStatus('lost');
    run.notify('conflict');
    this.schedule(this.period());
  }

  // ---- the loop ----

  private schedule(ms: number): void {
    this.loop.schedule(ms);
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
      if (err instanceof LeaseGoneError && this.held.lease) {
        this.held.lease.markGone(this.leases.describe(err)); // → onLeaseLost → grant
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

  private async grant(run: RegistrationRun, stale: () => boolean): Promise<void> {
    const lease = await this.leases.grant({ ttl: this.options.ttl, timeoutMs: this.callTimeout() });
    if (stale()) {
      lease.release();
      return;
    }
    this.adopt(run, lease);
  }

  private adopt(run: RegistrationRun, lease: Lease): void {
    if (this.held.adopt(lease, loss => this.onLeaseLost(run, lease, loss)))
      this.phaseValue = 'check';
  }

  /**
   * The local clock gave up on the lease: one keep-alive asks etcd. Alive → keep it (same lease, the
   * key is read and put back only if it is missing); gone → grant a new one; no answer → retried
   * with jittered backoff by {@link step}.
   */
  private async revive(run: RegistrationRun, stale: () => boolean): Promise<void> {
    const id = this.held.reviveId;
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
    this.held.reviveId = undefined;
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
    const lease = this.held.lease;
    if (!lease) {
      this.phaseValue = 'grant';
      return;
    }
    const answer = await lease.check(this.callTimeout());
    if (stale() || lease !== this.held.lease) return;
    if (answer === 'unknown') throw new Error('no keep-alive answer');
    if (answer === 'alive') this.phaseValue = 'check';
  }

  private async check(run: RegistrationRun, stale: () => boolean): Promise<void> {
    const lease = this.held.lease;
    if (!lease) {
      this.phaseValue = 'grant';
      return;
    }
    const holder = await this.port.get(run.key, this.callTimeout());
    if (stale() || lease !== this.held.lease) return;
    if (holder && holder.lease !== lease.id && !run.ownLeases.has(holder.lease)) {
      this.onConflict(run, holder);
      return;
    }
    if (run.holder) {
      this.options.logger.log(`registration key ${run.key} is free again; taking it`);
      run.holder = undefined;
    }
    if (holder?.lease === lease.id && holder.value === run.value) {
      this.phaseValue = 'hold';
      return;
    }
    if (!holder && this.held.published) {
      this.options.logger.warn(
        `registration key ${run.key} was deleted from outside; putting it back`,
      );
      this.setStatus('lost');
    }
    this.phaseValue = 'put';
  }

  private async put(run: RegistrationRun, stale: () => boolean): Promise<void> {
    const lease = this.held.lease;
    if (!lease) {
      this.phaseValue = 'grant';
      return;
    }
    run.ownLeases.add(lease.id);
    const revision = await this.port.put(run.key, run.value, lease.id, this.callTimeout());
    if (stale() || lease !== this.held.lease) return;
    run.putRevision = Math.max(run.putRevision, revision);
    this.held.published = true;
    this.phaseValue = 'hold';
  }

  /** Entered `hold`: registered. */
  private confirm(run: RegistrationRun): void {
    if (this.status !== 'registered') {
      this.options.logger.log(
        `registered ${run.key} (lease ${this.held.lease?.id}, ttl ${this.options.ttl}s)`,
      );
    }
    this.current = run.instance;
    this.setStatus('registered');
    run.confirm();
  }

  private period(): number {
    return renewalPeriod(this.options.ttl);
  }

  private callTimeout(): number {
    return registrationCallTimeout(this.options.ttl);
  }

  /** One warning line per loss; the retries that follow stay quiet until it is registered again. */
  private markLost(run: RegistrationRun, reason: string): void {
    if (this.status !== 'lost') {
      this.options.logger.warn(`registration ${run.key} lost: ${reason}`);
    }
    this.quiet = true;
    if (this.status === 'registered' || this.status === 'lost') this.setStatus('lost');
  }

  private setStatus(status: RegistryStatus): void {
    if (this.statusSubject.getValue() !== status && !this.statusSubject.closed) {
      this.statusSubject.next(status);
    }
  }
}
