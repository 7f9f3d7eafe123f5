import {
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  noop,
  retry,
  type IDefaultPolicyContext,
  type IPolicy,
} from 'cockatiel';
import { isRecoverableError, type IOptions } from 'etcd3';
import type { ResolvedEtcdOptions } from '../options/resolved-etcd-options.interface.js';
import { markNotRecoverable } from './etcd3-internals.adapter.js';
import { classifyEtcdError } from './etcd-errors.classifier.js';

type FaultHandling = NonNullable<IOptions['faultHandling']>;

/**
 * etcd3's fault handling, made to follow one rule: **only transport failures count against a
 * host**. An answer from etcd (permission denied, request too large, NOSPACE, compacted, ...) is
 * stripped of etcd3's "recoverable" mark before etcd3 sees it, so it never trips the breaker, never
 * resets the service clients (which would retire the channel carrying the watch stream) and is never
 * retried; the caller gets it as it is.
 *
 * - `host`: with several hosts, a short per-host breaker (3 consecutive transport failures, tried
 *   again after at most 1 s) lets calls go to a healthy member. With one host there is nowhere else
 *   to go, so no breaker: a breaker would only reject calls (heartbeats among them) after the link
 *   is back; the module's own loops already back off.
 * - `global`: one attempt per host for transport failures only.
 *
 * Both follow the hosts the client **uses now**: after `autoSyncEndpoints` switched the client to
 * the cluster's member list ({@link useHosts}), the retries and breakers are sized from that list,
 * not from the configured one (one configured URL that became three members gets breakers and two
 * more attempts; hosts the client kept switch with it).
 * @internal
 */
export class TransportPolicy {
  /** The last transport failure a call saw (the real cause behind an open breaker). */
  lastTransportFailure: unknown;
  private hostList: readonly string[];
  private globalRetry: IPolicy<IDefaultPolicyContext>;

  constructor(private readonly options: ResolvedEtcdOptions) {
    this.hostList = [...options.hosts];
    this.globalRetry = retryPerHost(this.hostList.length);
  }

  /** The hosts the retries and breakers are sized from. */
  get hosts(): readonly string[] {
    return this.hostList;
  }

  /** Attempts a call gets for transport failures (one per host). */
  get attempts(): number {
    return Math.max(1, this.hostList.length);
  }

  /** The client now uses `hosts` (endpoint sync switched it): size retries and breakers from them. */
  useHosts(hosts: readonly string[]): void {
    if (hosts.length === 0) return;
    const before = this.hostList.length;
    this.hostList = [...hosts];
    if (hosts.length !== before) this.globalRetry = retryPerHost(hosts.length);
  }

  /** The `faultHandling` option of the etcd3 client. */
  faultHandling(): FaultHandling {
    const { retry: backoff } = this.options;
    return {
      global: new FollowingPolicy(() => this.globalRetry),
      host: () => {
        const breaker = circuitBreaker(handleWhen(isCountedFailure), {
          halfOpenAfter: Math.min(1000, backoff.maxDelay),
          breaker: new ConsecutiveBreaker(3),
        });
        return new AnswerNeutralPolicy(
          breaker,
          () => (this.hostList.length > 1 ? breaker : noop),
          err => {
            this.lastTransportFailure = err;
          },
        );
      },
      // etcd3 drives the cockatiel backoff factory itself (its default is the same class).
      watchBackoff: new ExponentialBackoff({
        initialDelay: backoff.initialDelay,
        maxDelay: backoff.maxDelay,
      }) as unknown as FaultHandling['watchBackoff'],
    };
  }
}

/** One attempt per host, for transport failures only. */
function retryPerHost(hosts: number): IPolicy<IDefaultPolicyContext> {
  return retry(handleWhen(isCountedFailure), { maxAttempts: Math.max(0, hosts - 1) });
}

/**
 * Runs calls through the policy `current()` returns at the time of the call (it changes when the
 * client's hosts do). Its events are those of the first one (etcd3 does not listen to them).
 */
class FollowingPolicy implements IPolicy<IDefaultPolicyContext> {
  declare readonly _altReturn: never;
  readonly onSuccess: IPolicy['onSuccess'];
  readonly onFailure: IPolicy['onFailure'];

  constructor(private readonly current: () => IPolicy<IDefaultPolicyContext>) {
    const first = current();
    this.onSuccess = first.onSuccess;
    this.onFailure = first.onFailure;
  }

  execute<T>(
    fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T,
    signal?: AbortSignal,
  ): Promise<T> {
    return this.current().execute(fn, signal);
  }
}

/** A failure etcd3 would act on (recoverable) that is also a transport failure by our rules. */
function isCountedFailure(err: Error): boolean {
  return isRecoverableError(err) && classifyEtcdError(err).kind === 'transport';
}

/**
 * Runs calls through `inner()` (the host's breaker, or nothing with a single host), but first turns every answer from etcd into a non-recoverable error
 * (for etcd3: no reset, no retry) and records transport failures.
 */
class AnswerNeutralPolicy implements IPolicy<IDefaultPolicyContext> {
  declare readonly _altReturn: never;
  readonly onSuccess: IPolicy['onSuccess'];
  readonly onFailure: IPolicy['onFailure'];

  constructor(
    events: IPolicy<IDefaultPolicyContext>,
    private readonly inner: () => IPolicy<IDefaultPolicyContext>,
    private readonly onTransportFailure: (err: unknown) => void,
  ) {
    this.onSuccess = events.onSuccess;
    this.onFailure = events.onFailure;
  }

  execute<T>(
    fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T,
    signal?: AbortSignal,
  ): Promise<T> {
    return this.inner().execute(async context => {
      try {
        return await fn(context);
      } catch (err) {
        const failure = classifyEtcdError(err);
        if (failure.kind === 'answer') throw markNotRecoverable(err);
        if (failure.kind === 'transport') this.onTransportFailure(err);
        throw err;
      }
    }, signal);
  }
}
