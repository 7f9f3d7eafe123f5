import { describeCause } from '../common/describe-cause.js';
import { NestEtcdError } from './nest-etcd.error.js';

/**
 * etcd could not be reached: nothing answered on the configured hosts within the connect timeout, or
 * the TLS handshake failed. The message names the hosts, the timeout, the underlying cause and what
 * to check.
 */
export class EtcdConnectionError extends NestEtcdError {
  override readonly name = 'EtcdConnectionError';

  constructor(
    /** The endpoints that were tried. */
    readonly hosts: readonly string[],
    /** The connect timeout in ms. */
    readonly timeout: number,
    /** The last error seen while connecting. */
    override readonly cause?: unknown,
    /** What to check first, when the client found out (e.g. "use https://"). */
    readonly hint?: string,
    /**
     * The TLS handshake failed (the connection's error classifier said so of `cause`): the message
     * then says what to check in `credentials`.
     */
    readonly tls = false,
  ) {
    super(
      tls
        ? `TLS handshake with etcd at ${hosts.join(', ')} failed: ${describeCause(cause)}. ` +
            'Check that credentials.rootCertificate is the CA that signed the etcd server ' +
            'certificate, that the certificate is valid for this host name or IP, and, when etcd ' +
            'requires client certificates, that credentials.privateKey / certChain are signed by a ' +
            'CA etcd trusts.'
        : `Cannot reach etcd at ${hosts.join(', ')} within ${timeout} ms: ${describeCause(cause)}. ` +
            (hint ?? 'Is etcd running, and are the hosts option / ETCD_HOSTS right?'),
    );
  }
}
