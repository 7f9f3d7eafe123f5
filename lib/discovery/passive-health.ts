import { systemClock } from '../common/clock.js';
import {
  DEFAULT_EJECT_FAILURES,
  DEFAULT_EJECT_FOR_MS,
} from '../options/resolved-etcd-options.interface.js';
import type { ServiceInstance } from './service-instance.interface.js';

/** Bound on remembered instances; past it, entries that are not ejected are forgotten. */
const MAX_TRACKED = 1000;

interface HealthEntry {
  failures: number;
  ejectedUntil: number;
}

/** What happened when a failure was recorded. */
export interface FailureOutcome {
  /** True when this failure ejected the instance. */
  ejected: boolean;
  /** Consecutive failures counted so far (0 right after an ejection). */
  failures: number;
}

/**
 * Counts consecutive connection-level failures per instance and ejects an instance for a while
 * once they reach a threshold. An ejected instance comes back by itself when its time is up; a
 * success resets its count. The clock is injectable so tests never wait real seconds.
 * @internal
 */
export class PassiveHealth {
  private readonly entries = new Map<string, HealthEntry>();

  constructor(
    readonly failureThreshold: number = DEFAULT_EJECT_FAILURES,
    readonly ejectForMs: number = DEFAULT_EJECT_FOR_MS,
    private readonly now: () => number = systemClock.now,
  ) {}

  /**
   * Identity of one running instance: a process that restarts under the same instanceId gets a
   * new `registeredAt` (or a new address), so it does not inherit its predecessor's ejection.
   */
  static keyOf(instance: ServiceInstance): string {
    return `${instance.serviceName}/${instance.instanceId}@${instance.host}:${instance.port}#${instance.registeredAt ?? ''}`;
  }

  /** True while the instance is ejected. */
  isEjected(instance: ServiceInstance): boolean {
    const entry = this.entries.get(PassiveHealth.keyOf(instance));
    return entry !== undefined && entry.ejectedUntil > this.now();
  }

  /** Records a connection-level failure. */
  recordFailure(instance: ServiceInstance): FailureOutcome {
    const key = PassiveHealth.keyOf(instance);
    const now = this.now();
    let entry = this.entries.get(key);
    if (!entry) {
      this.prune(now);
      entry = { failures: 0, ejectedUntil: 0 };
      this.entries.set(key, entry);
    }
    // A failure while ejected (a call that was already in flight) neither extends the ejection
    // nor counts towards the next one.
    if (entry.ejectedUntil > now) return { ejected: false, failures: entry.failures };
    entry.failures += 1;
    if (entry.failures >= this.failureThreshold) {
      entry.failures = 0;
      entry.ejectedUntil = now + this.ejectForMs;
      return { ejected: true, failures: 0 };
    }
    return { ejected: false, failures: entry.failures };
  }

  /** Records a call that reached the instance (any HTTP status): its failure count starts over. */
  recordSuccess(instance: ServiceInstance): void {
    if (this.entries.size === 0) return; // the usual case: nothing to forget, no key to build
    const key = PassiveHealth.keyOf(instance);
    const entry = this.entries.get(key);
    if (entry && entry.ejectedUntil <= this.now()) this.entries.delete(key);
  }

  /**
   * The instances that are not ejected; when every one of them is ejected, all of them (a
   * service is never ejected as a whole: a call to a doubtful instance beats no call).
   */
  available(instances: readonly ServiceInstance[]): readonly ServiceInstance[] {
    if (this.entries.size === 0) return instances;
    const healthy = instances.filter(instance => !this.isEjected(instance));
    return healthy.length > 0 ? healthy : instances;
  }

  private prune(now: number): void {
    if (this.entries.size < MAX_TRACKED) return;
    for (const [key, entry] of this.entries)
      if (entry.ejectedUntil <= now) this.entries.delete(key);
  }
}
