import { NestEtcdError } from './nest-etcd.error.js';

/**
 * The lock's lease was lost while it was held (or awaited): etcd was unreachable for longer than
 * the renew deadline, or the lease or key was removed from outside. The `signal` given to the
 * function was aborted with this error; another instance may hold the lock now.
 */
export class EtcdLockLostError extends NestEtcdError {
  override readonly name = 'EtcdLockLostError';

  constructor(
    /** The lock's name. */
    readonly lock: string,
    /** What happened. */
    readonly reason: string,
  ) {
    super(`nest-etcd: lock "${lock}" was lost: ${reason}`);
  }
}
