/**
 * etcd refused the credentials: wrong user name or password. The message names the user, never the
 * password.
 */
export class EtcdAuthError extends Error {
  override readonly name = 'EtcdAuthError';

  constructor(
    /** The user name that was refused. */
    readonly username: string,
    /** The hosts that refused it. */
    readonly hosts: readonly string[],
  ) {
    super(
      `etcd at ${hosts.join(', ')} refused user "${username}": wrong user name or password ` +
        '(check auth / ETCD_USERNAME / ETCD_PASSWORD).',
    );
  }
}
