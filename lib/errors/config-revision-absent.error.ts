import { NestEtcdError } from './nest-etcd.error.js';

/**
 * Thrown by `EtcdConfigService.rollback()` when the key (or every key of a folder) did not exist at
 * the revision asked for: nothing is changed (use `delete()` to remove a key on purpose).
 */
export class ConfigRevisionAbsentError extends NestEtcdError {
  override readonly name = 'ConfigRevisionAbsentError';

  constructor(
    /** The key, relative to the prefix (a folder ends with `/`). */
    readonly key: string,
    /** The revision that was asked for. */
    readonly revision: number,
  ) {
    super(
      `Config ${key.endsWith('/') ? 'folder' : 'key'} "${key}" did not exist at revision ${revision}: ` +
        `nothing to roll back to, nothing was changed (config.history("${key}") lists its revisions; ` +
        'config.delete() removes a key on purpose)',
    );
  }
}
