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
  ) {
    super(`etcd refused ${operation} on "${key}": ${reason}${hintFor(reason)}`);
  }
}

function hintFor(reason: string): string {
  if (/database space exceeded|NOSPACE/i.test(reason)) {
    return ' (etcd is out of space: compact and defragment it, then `etcdctl alarm disarm`)';
  }
  if (/too large|larger than max/i.test(reason)) {
    return " (the value exceeds etcd's --max-request-bytes, 1.5 MiB by default)";
  }
  return '';
}
