import type { Observable } from 'rxjs';
import type { LoadBalancingStrategy, ServiceInstance } from './service-instance.interface.js';

/**
 * Keeps instances whose metadata holds every given entry (`{ version: '2.0.0' }`, compared with
 * `===`), or for which the predicate returns `true`.
 */
export type InstanceFilter =
  Readonly<Record<string, unknown>> | ((instance: ServiceInstance) => boolean);

/** How `choose()` and `fetch()` pick an instance. Every field is optional. */
export interface ChooseOptions {
  /**
   * Balancing among the candidates left after `filter`, passive health and zone preference.
   * @default 'round-robin'
   */
  strategy?: LoadBalancingStrategy;
  /** Only instances whose metadata matches (object) or that the predicate accepts. */
  filter?: InstanceFilter;
  /**
   * Prefer instances whose `metadata.zone` equals this; others are used only when no instance of
   * this zone is available. `null` turns zone preference off for this call.
   * @default the caller's own zone: `registry.zone`, else env `ETCD_ZONE`
   */
  zone?: string | null;
}

/** The request options of `registry.fetch()`: the global `fetch`'s, plus how to pick and retry. */
export interface RegistryFetchInit extends RequestInit, ChooseOptions {
  /**
   * How many more instances to try after a connection-level failure (refused, reset, timeout).
   * Applies to GET, HEAD, PUT, DELETE and OPTIONS; POST and PATCH are never retried unless
   * `retryNonIdempotent` is set. A request whose body is a stream is never retried.
   * @default 2
   */
  retries?: number;
  /** Retry POST and PATCH too (only when the server tolerates a duplicate). @default false */
  retryNonIdempotent?: boolean;
  /**
   * Milliseconds each attempt may wait for the response headers; past it the attempt counts as a
   * connection failure (the instance's passive-health score, and a retry when allowed). Combine
   * with `signal: AbortSignal.timeout(ms)` for a bound on the whole call, body included.
   * @default 10000
   */
  timeout?: number;
  /** URL scheme used to reach the instance. @default 'http' */
  scheme?: 'http' | 'https';
}

/**
 * Where discovery reads instances from: the registry's watched cache.
 * @internal
 */
export interface InstancesSource {
  getInstances(serviceName: string): Promise<ServiceInstance[]>;
  /**
   * The list `getInstances` would answer with at once, when it is already loaded (no promise, no
   * microtask: `registry.fetch()`'s per-call path); `undefined` otherwise.
   */
  cachedInstances?(serviceName: string): ServiceInstance[] | undefined;
  instances$(serviceName: string): Observable<ServiceInstance[]>;
}
