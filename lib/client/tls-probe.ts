import { connect as tlsConnect } from 'node:tls';
import { isTlsAlert } from './etcd-errors.classifier.js';

/**
 * Whether something at `host:port` answers a TLS handshake (a certificate comes back), within
 * `timeoutMs`. Used once, after a boot over `http://` failed, to tell "etcd speaks TLS here: use
 * https://" from "nothing listens". Never throws; the socket is always destroyed.
 * @internal
 */
export function speaksTls(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise(resolve => {
    let done = false;
    const finish = (answer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    // only looking at the certificate: nothing is sent after the handshake
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    socket.once('secureConnect', () => finish(socket.getPeerCertificate() !== undefined));
    // A server that wants a client certificate may end the handshake with an alert: still TLS.
    socket.once('error', (err: NodeJS.ErrnoException) => finish(isTlsAlert(err)));
    socket.once('close', () => finish(false));
    const timer = setTimeout(() => finish(false), timeoutMs);
    timer.unref();
  });
}

/** The hosts of `http://` endpoints that answer a TLS handshake (probed in parallel). @internal */
export async function plainHostsSpeakingTls(hosts: readonly string[]): Promise<string[]> {
  const plain = hosts.filter(h => h.startsWith('http://'));
  const answers = await Promise.all(
    plain.map(h => {
      const url = new URL(h);
      return speaksTls(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || 2379));
    }),
  );
  return plain.filter((_, i) => answers[i]);
}
