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
 * @internal
 */
export class TransportPolicy {
  /** The last transport failure a call saw (the real cause behind an open breaker). */
  lastTransportFailure: unknown;

  constructor(private readonly options: ResolvedEtcdOptions) {}

  /** The `faultHandling` option of the etcd3 client. */
  faultHandling(): FaultHandling {
    const { hosts, retry: backoff } = this.options;
    return {
      global: retry(handleWhen(isCountedFailure), {
        maxAttempts: Math.max(0, hosts.length - 1),
      }),
      host: () =>
        new AnswerNeutralPolicy(
          hosts.length > 1
            ? circuitBreaker(handleWhen(isCountedFailure), {
                halfOpenAfter: Math.min(1000, backoff.maxDelay),
                breaker: new ConsecutiveBreaker(3),
              })
            : noop,
          err => {
            this.lastTransportFailure = err;
          },
        ),
      // etcd3 drives the cockatiel backoff factory itself (its default is the same class).
      watchBackoff: new ExponentialBackoff({
        initialDelay: backoff.initialDelay,
        maxDelay: backoff.maxDelay,
      }) as unknown as FaultHandling['watchBackoff'],
    };
  }
}

/** A failure etcd3 would act on (recoverable) that is also a transport failure by our rules. */
function isCountedFailure(err: Error): boolean {
  return isRecoverableError(err) && classifyEtcdError(err).kind === 'transport';
}

/**
 * Runs calls through `inner`, but first turns every answer from etcd into a non-recoverable error
 * (for etcd3: no reset, no retry) and records transport failures.
 */
class AnswerNeutralPolicy implements IPolicy<IDefaultPolicyContext> {
  declare readonly _altReturn: never;
  readonly onSuccess: IPolicy['onSuccess'];
  readonly onFailure: IPolicy['onFailure'];

  constructor(
    private readonly inner: IPolicy<IDefaultPolicyContext>,
    private readonly onTransportFailure: (err: unknown) => void,
  ) {
    this.onSuccess = inner.onSuccess;
    this.onFailure = inner.onFailure;
  }

  execute<T>(
    fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T,
    signal?: AbortSignal,
  ): Promise<T> {
    return this.inner.execute(async context => {
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
