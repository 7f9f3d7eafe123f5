import { describeCause } from '../common/describe-cause.js';
import { NestEtcdError } from './nest-etcd.error.js';

/**
 * A call could not reach etcd (after boot): the connection is down, reset or too slow, or etcd has
 * no leader. The module keeps serving its last known state and reconnects by itself; a write can be
 * retried once etcd is back.
 */
export class EtcdUnavailableError extends NestEtcdError {
  override readonly name = 'EtcdUnavailableError';

  constructor(
    /** What was attempted, e.g. `set` or `register`. */
    readonly operation: string,
    /** The key (with namespace) the call was about. */
    readonly key: string,
    /** The endpoints of the client. */
    readonly hosts: readonly string[],
    /** The last transport failure seen. */
    override readonly cause?: unknown,
  ) {
    super(
      `etcd at ${hosts.join(', ')} is unreachable; ${operation} on "${key}" failed: ` +
        `${describeCause(cause)}`,
    );
  }
}
