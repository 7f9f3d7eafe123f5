import { NestEtcdError } from './nest-etcd.error.js';

/**
 * A compare-and-swap write lost: the key changed since the revision the caller saw (someone else
 * wrote it). Nothing was written; read it again, then retry.
 */
export class ConfigConflictError extends NestEtcdError {
  override readonly name = 'ConfigConflictError';

  constructor(
    /** The etcd key. */
    readonly etcdKey: string,
    /** The mod revision the caller expected (0: absent). */
    readonly expectedRevision: number,
    /** The mod revision etcd holds now (0: absent). */
    readonly actualRevision: number,
  ) {
    super(
      `"${etcdKey}" changed: expected revision ${expectedRevision}, etcd has ${actualRevision}` +
        ' (someone else wrote it; read it again and retry). Nothing was written.',
    );
  }
}
