import { NestEtcdError } from './nest-etcd.error.js';

/**
 * etcd authenticated the user but its roles do not allow the operation (RBAC). The message names the
 * user, the operation and the key.
 */
export class EtcdPermissionError extends NestEtcdError {
  override readonly name = 'EtcdPermissionError';

  constructor(
    /** What was attempted, e.g. `set` or `register`. */
    readonly operation: string,
    /** The key (with namespace) the operation touched. */
    readonly key: string,
    /** The authenticated user, when known. */
    readonly username: string | undefined,
  ) {
    super(
      `etcd denied ${operation} on "${key}"${username ? ` for user "${username}"` : ''}: ` +
        'permission denied (grant the user a role with access to this key prefix).',
    );
  }
}
