import { NestEtcdError } from './nest-etcd.error.js';

/**
 * etcd received a request and refused it: the value is larger than etcd's `--max-request-bytes`,
 * the database is full (NOSPACE alarm: `etcdctl alarm list`), the revision was compacted, ... The
 * connection is fine; retrying the same request will fail the same way. `reason` is etcd's own words.
 */
export class EtcdRequestRejectedError extends NestEtcdError {
  override readonly name = 'EtcdRequestRejectedError';

  constructor(
    /** What was attempted, e.g. `set` or `register`. */
    readonly operation: string,
    /** The key (with namespace) the request was about. */
    readonly key: string,
    /** etcd's reason, e.g. `etcdserver: request is too large`. */
    readonly reason: string,
    /** What to do about it, e.g. ` (the value exceeds etcd's --max-request-bytes, ...)`. */
    hint = '',
  ) {
    super(`etcd refused ${operation} on "${key}": ${reason}${hint}`);
  }
}
