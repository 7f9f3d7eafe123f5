import { NestEtcdError } from './nest-etcd.error.js';

/**
 * etcd no longer accepts the client's auth token (simple tokens expire after `--auth-token-ttl`
 * seconds of disuse, 300 by default). The module authenticates again and reopens the watch stream by
 * itself; this is the reason its watches name while it does.
 */
export class EtcdAuthTokenExpiredError extends NestEtcdError {
  override readonly name = 'EtcdAuthTokenExpiredError';

  constructor() {
    super('etcd auth token expired; authenticating again and reopening the watch stream');
  }
}
