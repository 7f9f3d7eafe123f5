import { NestEtcdError } from './nest-etcd.error.js';

/** One failed attempt of a call through the registry. */
export interface FailedAttempt {
  instanceId: string;
  address: string;
  /** The error code (`ECONNREFUSED`, `UND_ERR_SOCKET`, `TimeoutError`...) or message. */
  reason: string;
}

/**
 * Thrown by `registry.fetch()` when every attempt failed at the connection level (refused, reset,
 * timed out). `attempts` lists them in order; `cause` is the last error, as the global `fetch`
 * threw it.
 */
export class ServiceCallError extends NestEtcdError {
  override readonly name = 'ServiceCallError';

  constructor(
    /** The service that was called. */
    readonly serviceName: string,
    /** Every failed attempt, in order. */
    readonly attempts: readonly FailedAttempt[],
    cause: unknown,
  ) {
    super(
      `call to service "${serviceName}" failed after ${attempts.length} attempt${attempts.length === 1 ? '' : 's'}: ${attempts
        .map(a => `${a.instanceId} (${a.address}): ${a.reason}`)
        .join('; ')}`,
      { cause },
    );
  }
}
