import { NestEtcdError } from './nest-etcd.error.js';

/**
 * `EtcdLockService.withLock()` could not take the lock within its `timeout`. Nothing ran; the
 * place in the queue was given up.
 */
export class EtcdLockTimeoutError extends NestEtcdError {
  override readonly name = 'EtcdLockTimeoutError';

  constructor(
    /** The lock's name. */
    readonly lock: string,
    /** The timeout that passed, in ms. */
    readonly timeoutMs: number,
  ) {
    super(
      `nest-etcd: lock "${lock}" was not acquired within ${timeoutMs} ms (another holder kept it, or etcd did not answer)`,
    );
  }
}
