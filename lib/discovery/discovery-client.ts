import { Logger } from '@nestjs/common';
import { systemClock } from '../common/clock.js';
import { hostPort } from '../common/host-address.js';
import { LoadBalancer } from './load-balancer.js';
import type { LoadBalancingStrategy, ServiceInstance } from './service-instance.interface.js';
import { failureReason, isConnectionFailure } from './connection-failure.js';
import type { ChooseOptions, InstancesSource, RegistryFetchInit } from './discovery.interfaces.js';
import type { PassiveHealthOptions } from '../options/etcd-module-options.interface.js';
import { NoInstanceAvailableError } from '../errors/no-instance-available.error.js';
import {
  DEFAULT_EJECT_FAILURES,
  DEFAULT_EJECT_FOR_MS,
} from '../options/resolved-etcd-options.interface.js';
import { instanceMatcher } from './instance-filter.js';
import { PassiveHealth } from './passive-health.js';
import { type FailedAttempt, ServiceCallError } from '../errors/service-call.error.js';

/** Default retries of idempotent requests on another instance. */
export const DEFAULT_RETRIES = 2;
/** Default wait for the response headers of one attempt (ms). */
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);

/** Settings of a {@link DiscoveryClient}. @internal */
export interface DiscoveryClientOptions {
  /** The caller's zone (instances with the same `metadata.zone` are preferred). */
  zone?: string;
  health?: PassiveHealthOptions;
  /** Injectable monotonic clock (ms), for passive health (default: the module's `Clock`). */
  now?: () => number;
  /** Injectable randomness, for the `random` and `weighted` strategies. */
  random?: () => number;
  /** Injectable fetch (default: the global `fetch` at call time). */
  fetch?: typeof fetch;
  logger?: Logger;
}

/** A strategy name or choose options, as `registry.choose()` accepts them. */
export type ChooseArgument = LoadBalancingStrategy | ChooseOptions | undefined;

/**
 * Picks instances (filter, passive health, zone preference, balancing) and calls them over HTTP
 * with retries on another instance. Reads instances through a narrow {@link InstancesSource}, so
 * its logic is unit-tested with fakes and the registry only delegates to it.
 * @internal
 */
export class DiscoveryClient {
  readonly health: PassiveHealth;
  private readonly balancer: LoadBalancer;
  private readonly logger: Logger;

  constructor(
    private readonly source: InstancesSource,
    private readonly options: DiscoveryClientOptions = {},
  ) {
    this.health = new PassiveHealth(
      options.health?.failures ?? DEFAULT_EJECT_FAILURES,
      options.health?.ejectFor ?? DEFAULT_EJECT_FOR_MS,
      options.now ?? systemClock.now,
    );
    this.balancer = new LoadBalancer(options.random);
    this.logger = options.logger ?? new Logger('EtcdDiscovery');
  }

  /** The caller's zone, when it has one. */
  get zone(): string | undefined {
    return this.options.zone;
  }

  /** Picks one live instance, or `undefined` when none matches. */
  async choose(
    serviceName: string,
    choice: ChooseArgument = undefined,
  ): Promise<ServiceInstance | undefined> {
    const options = normalizeChoice(choice);
    const instances = await this.source.getInstances(serviceName);
    return this.pick(serviceName, instances, options);
  }

  /**
   * Picks among `instances` (the list of one service): filter, then passive health (never every
   * instance), then zone preference, then the strategy. `tried` instances are avoided while
   * others remain. Synchronous: for callers that hold a live list (the microservice proxy).
   */
  pick(
    serviceName: string,
    instances: readonly ServiceInstance[],
    options: ChooseOptions = {},
    tried?: ReadonlySet<string>,
  ): ServiceInstance | undefined {
    const matching = options.filter ? instances.filter(instanceMatcher(options.filter)) : instances;
    let candidates = this.health.available(matching);
    if (tried && tried.size > 0) {
      const untried = candidates.filter(i => !tried.has(PassiveHealth.keyOf(i)));
      if (untried.length > 0) candidates = untried;
    }
    const zone = options.zone === undefined ? this.options.zone : options.zone;
    if (zone) {
      const local = candidates.filter(i => i.metadata.zone === zone);
      if (local.length > 0) candidates = local;
    }
    return this.balancer.pick(serviceName, candidates, options.strategy ?? 'round-robin');
  }

  /** Records a connection-level failure of a call to `instance` (logs an ejection once). */
  reportFailure(instance: ServiceInstance, err: unknown): void {
    const outcome = this.health.recordFailure(instance);
    if (outcome.ejected) {
      this.logger.warn(
        `ejecting ${instance.serviceName}/${instance.instanceId} (${address(instance)}) for ${this.health.ejectForMs} ms after ${this.health.failureThreshold} connection failures (last: ${failureReason(err)})`,
      );
    }
  }

  /** Records a call that reached `instance`. */
  reportSuccess(instance: ServiceInstance): void {
    this.health.recordSuccess(instance);
  }

  /**
   * The global `fetch` to a live instance of `serviceName` (`path` is appended to
   * `http://host:port`). Connection-level failures count against the instance and, for idempotent
   * methods, are retried on another instance.
   * @throws NoInstanceAvailableError when no instance matches.
   * @throws ServiceCallError when every attempt failed at the connection level.
   */
  async fetch(serviceName: string, path: string, init: RegistryFetchInit = {}): Promise<Response> {
    const { strategy, filter, zone, retries, retryNonIdempotent, timeout, scheme, ...requestInit } =
      init;
    const choice: ChooseOptions = { strategy, filter, zone };
    if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) {
      throw new TypeError(
        `registry.fetch(): path must start with "/" (got ${JSON.stringify(path)}); the scheme, host and port come from the registry`,
      );
    }
    const method = (requestInit.method ?? 'GET').toUpperCase();
    const replayable = !isStreamBody(requestInit.body);
    const maxRetries =
      replayable && (IDEMPOTENT_METHODS.has(method) || retryNonIdempotent === true)
        ? nonNegativeInteger('retries', retries, DEFAULT_RETRIES)
        : 0;
    const timeoutMs = positiveNumber('timeout', timeout, DEFAULT_CALL_TIMEOUT_MS);
    const userSignal = requestInit.signal ?? undefined;
    const fetchImpl = this.options.fetch ?? globalThis.fetch;
    // Allocated on the first failed attempt only: the usual call succeeds at once.
    let tried: Set<string> | undefined;
    const attempts: FailedAttempt[] = [];
    let lastError: unknown;

    for (let attempt = 0; attempt <= maxRetries; attempt++) {
      // A loaded list is read without a promise (no microtask per call); the first call loads it.
      const instances =
        this.source.cachedInstances?.(serviceName) ?? (await this.source.getInstances(serviceName));
      const instance = this.pick(serviceName, instances, choice, tried);
      if (!instance) {
        if (attempts.length > 0) break;
        throw new NoInstanceAvailableError(serviceName, instances.length > 0);
      }
      userSignal?.throwIfAborted();
      const url = `${scheme ?? 'http'}://${address(instance)}${path}`;
      // One controller and one timer per attempt (measured: ≈ 0.2 µs for the timer;
      // `AbortSignal.timeout()` costs ≈ 16 µs per call on Node 20, and undici needs a signal of its own
      // per request, so a shared one cannot be aborted for one attempt only).
      const attemptSignal = new AbortController();
      const timer = setTimeout(abortAttempt, timeoutMs, attemptSignal, timeoutMs);
      timer.unref?.();
      const signal = userSignal
        ? AbortSignal.any([userSignal, attemptSignal.signal])
        : attemptSignal.signal;
      try {
        const response = await fetchImpl(url, { ...requestInit, method, signal });
        this.reportSuccess(instance);
        return response;
      } catch (err) {
        // The caller's own abort is never a failure of the instance, nor retried.
        if (userSignal?.aborted) throw err;
        if (!isConnectionFailure(err)) throw err;
        this.reportFailure(instance, err);
        (tried ??= new Set()).add(PassiveHealth.keyOf(instance));
        attempts.push({
          instanceId: instance.instanceId,
          address: address(instance),
          reason: failureReason(err),
        });
        lastError = err;
      } finally {
        clearTimeout(timer);
      }
    }
    throw new ServiceCallError(serviceName, attempts, lastError);
  }
}

/** `choose(name, 'random')` and `choose(name, { strategy: 'random' })` are the same call. */
export function normalizeChoice(choice: ChooseArgument): ChooseOptions {
  if (choice === undefined) return {};
  if (typeof choice === 'string') return { strategy: choice };
  if (choice === null || typeof choice !== 'object') {
    throw new TypeError(
      `choose(): expected a strategy name or { strategy?, filter?, zone? }, got ${String(choice)}`,
    );
  }
  return choice;
}

/** The per-attempt timer's callback (module-level: no closure per call). */
function abortAttempt(controller: AbortController, timeoutMs: number): void {
  controller.abort(new DOMException(`no response headers within ${timeoutMs} ms`, 'TimeoutError'));
}

function address(instance: ServiceInstance): string {
  return hostPort(instance.host, instance.port);
}

function isStreamBody(body: RequestInit['body']): boolean {
  if (body === undefined || body === null) return false;
  if (typeof body === 'string') return false;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return false;
  if (body instanceof URLSearchParams || body instanceof Blob || body instanceof FormData)
    return false;
  return true;
}

function nonNegativeInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw new TypeError(`registry.fetch(): ${name} must be an integer >= 0, got ${String(value)}`);
  }
  return value;
}

function positiveNumber(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new TypeError(`registry.fetch(): ${name} must be a number > 0, got ${String(value)}`);
  }
  return value;
}
