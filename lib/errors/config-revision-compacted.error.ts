import { NestEtcdError } from './nest-etcd.error.js';

/**
 * Thrown by `EtcdConfigService.rollback()` (and `history()` reads) when etcd has compacted the
 * revision away: the value it held is gone from etcd's history.
 */
export class ConfigRevisionCompactedError extends NestEtcdError {
  override readonly name = 'ConfigRevisionCompactedError';

  constructor(
    /** The key, relative to the prefix. */
    readonly key: string,
    /** The revision that was asked for. */
    readonly revision: number,
  ) {
    super(
      `Revision ${revision} of config key "${key}" is no longer in etcd's history (etcd compacted ` +
        `it away); config.history("${key}") lists the revisions still available`,
    );
  }
}
