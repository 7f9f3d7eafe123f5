import { Logger } from '@nestjs/common';
import { assertLeaseName } from '../lease/lease-timing.js';
/** Metadata key under which `@LeaderOnly` records its election name on the wrapped method. @internal */
export const LEADER_ONLY_METADATA = 'nest-etcd:leader-only';

/** Property (on each provider instance) holding the guard that `@LeaderOnly` methods consult. @internal */
export const LEADER_GUARD = Symbol('nest-etcd:leader-guard');

/** What a `@LeaderOnly` method asks before it runs. @internal */
export interface LeaderGuard {
  /** Whether this instance leads `name` now (`undefined`: the default election). */
  mayRun(name: string | undefined, target: string): boolean;
}

/** The election name a `@LeaderOnly` method recorded (`null` for the default election). @internal */
export function leaderOnlyName(method: unknown): string | null | undefined {
  if (typeof method !== 'function') return undefined;
  return Reflect.getMetadata(LEADER_ONLY_METADATA, method) as string | null | undefined;
}

/**
 * Runs the decorated method only while this instance leads the election `name` (default: the
 * registry's `serviceName`, or `'default'` when the app does not register itself). On other
 * instances, and on this one while it does not lead, a call returns `undefined` without running the
 * method. Every election named by `@LeaderOnly` is joined on application bootstrap and resigned on
 * shutdown, so the next instance takes over at once.
 *
 * Works on any provider or controller method, typically a `@nestjs/schedule` job, with the two
 * decorators in either order. Leadership is checked when the method is called: a long run should
 * check `EtcdElectionService.isLeader(name)` between steps.
 *
 * @example
 * ```ts
 * import { Injectable } from '@nestjs/common';
 * import { Cron } from '@nestjs/schedule';
 * import { LeaderOnly } from 'nest-etcd';
 *
 * @Injectable()
 * export class ReportJob {
 *   @Cron('0 * * * * *')
 *   @LeaderOnly('reports')
 *   async sendReport(): Promise<void> {
 *     // runs on one instance of the service at a time
 *   }
 * }
 * ```
 */
export function LeaderOnly(name?: string): MethodDecorator {
  if (name !== undefined) assertElectionName(name);
  return (target, propertyKey, descriptor) => {
    const original = descriptor.value as unknown;
    if (typeof original !== 'function') {
      throw new TypeError(`@LeaderOnly() can only decorate a method (${String(propertyKey)})`);
    }
    const label = `${(target as { constructor: { name: string } }).constructor.name}.${String(propertyKey)}`;
    let warned = false;
    const wrapped = function (this: Record<symbol, LeaderGuard | undefined>, ...args: unknown[]) {
      const guard = this?.[LEADER_GUARD];
      if (!guard) {
        // No EtcdModule wired this instance: never silently skip for ever without a word.
        if (!warned) {
          warned = true;
          new Logger('EtcdElection').warn(
            `${label} is @LeaderOnly but no EtcdModule set up its election (EtcdModule not imported, ` +
              'or a request-scoped or transient provider): it does not run',
          );
        }
        return undefined;
      }
      if (!guard.mayRun(name, label)) return undefined;
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    };
    // Keep what other decorators (e.g. @Cron) recorded on the original, whatever the order.
    for (const key of Reflect.getOwnMetadataKeys(original)) {
      Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, original), wrapped);
    }
    Object.defineProperty(wrapped, 'name', { value: (original as { name: string }).name });
    Reflect.defineMetadata(LEADER_ONLY_METADATA, name ?? null, wrapped);
    descriptor.value = wrapped as typeof descriptor.value;
    return descriptor;
  };
}

/** Election names: one etcd key segment (the rule of {@link assertLeaseName}). @internal */
export function assertElectionName(name: string): void {
  assertLeaseName(name, 'election');
}
