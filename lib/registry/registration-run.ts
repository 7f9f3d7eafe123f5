import { EtcdStoppedError } from '../errors/etcd-stopped.error.js';
import type { ServiceInstance } from '../discovery/service-instance.interface.js';
import type { RegistrationOutcome } from './registration.interfaces.js';
import type { KeyHolder, OwnKeyEvent } from './registration-port.js';

/**
 * One start of a `SelfRegistration`, until its stop: what it keeps alive (`key` = `value` for
 * `instance`), what it learned about the key's writers (its own leases and puts, another holder),
 * the promise the start returned (settled once: registered, or stopped first) and the boot waits on
 * its outcome.
 * @internal
 */
export class RegistrationRun {
  /** Leases this run put the key with (echoes of our own puts are not another writer). */
  readonly ownLeases = new Set<string>();
  /** Revision of our last put: older watch events of the key are stale. */
  putRevision = 0;
  /** Another writer holding the key (conflict), until the key is free again. */
  holder: KeyHolder | undefined;
  /** Resolves once etcd holds the key; rejects with `EtcdStoppedError` when stopped first. */
  readonly registered: Promise<ServiceInstance>;
  private resolve!: (instance: ServiceInstance) => void;
  private reject!: (err: Error) => void;
  private settled = false;
  private readonly waiters: Array<(outcome: RegistrationOutcome) => void> = [];

  constructor(
    readonly instance: ServiceInstance,
    readonly key: string,
    readonly value: string,
  ) {
    this.registered = new Promise<ServiceInstance>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.registered.catch(() => undefined);
  }

  /** True when an own-key event says nothing new: older than our last put, or a put of ours. */
  echoes(event: OwnKeyEvent): boolean {
    if (event.type === 'resync') return false;
    if (event.revision !== undefined && event.revision <= this.putRevision) return true;
    return event.type === 'put' && this.ownLeases.has(event.lease);
  }

  /** Resolves with the next outcome this run reaches (see {@link notify}). */
  next(): Promise<RegistrationOutcome> {
    return new Promise(resolve => this.waiters.push(resolve));
  }

  /** Etcd holds the key: the start resolves (once), the waiters hear `registered`. */
  confirm(): void {
    if (!this.settled) {
      this.settled = true;
      this.resolve(this.instance);
    }
    this.notify('registered');
  }

  /** Stopped: a start not yet confirmed rejects, the waiters hear `stopped`. */
  stopped(): void {
    if (!this.settled) {
      this.settled = true;
      this.reject(new EtcdStoppedError(`registration of ${this.key}`, 'before it completed'));
    }
    this.notify('stopped');
  }

  /** Tells the waiters how the run stands now. */
  notify(outcome: RegistrationOutcome): void {
    for (const waiter of this.waiters.splice(0)) waiter(outcome);
  }
}
