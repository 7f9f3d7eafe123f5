/**
 * etcd could not be reached: nothing answered on the configured hosts within the connect timeout, or
 * the TLS handshake failed. The message names the hosts, the timeout and the underlying cause.
 */
export class EtcdConnectionError extends Error {
  override readonly name = 'EtcdConnectionError';

  constructor(
    /** The endpoints that were tried. */
    readonly hosts: readonly string[],
    /** The connect timeout in ms. */
    readonly timeout: number,
    /** The last error seen while connecting. */
    override readonly cause?: unknown,
  ) {
    super(
      `Cannot reach etcd at ${hosts.join(', ')} within ${timeout} ms: ${describeCause(cause)}. ` +
        'Is etcd running (scripts/etcd.sh start) and are ETCD_HOSTS / hosts right?',
    );
  }
}

/** One readable line for an error from the etcd client or gRPC. @internal */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const message = cause.message.split('\n')[0] ?? '';
    return message.length > 0 ? message : cause.name;
  }
  if (cause === undefined) return 'no answer';
  return typeof cause === 'string' ? cause : JSON.stringify(cause) ?? typeof cause;
}
