import { NestEtcdError } from './nest-etcd.error.js';

/**
 * etcd refused the credentials (wrong user name or password), or it has auth enabled and no user was
 * given. The message names the user, never the password.
 */
export class EtcdAuthError extends NestEtcdError {
  override readonly name = 'EtcdAuthError';

  constructor(
    /** The user name that was refused; `undefined` when etcd requires auth and none was given. */
    readonly username: string | undefined,
    /** The hosts that refused it. */
    readonly hosts: readonly string[],
  ) {
    super(
      username === undefined
        ? `etcd at ${hosts.join(', ')} requires authentication but no user was given ` +
            '(set auth: { username, password } or ETCD_USERNAME / ETCD_PASSWORD).'
        : `etcd at ${hosts.join(', ')} refused user "${username}": wrong user name or password ` +
            '(check auth / ETCD_USERNAME / ETCD_PASSWORD).',
    );
  }
}
