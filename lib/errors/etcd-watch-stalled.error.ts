import { NestEtcdError } from './nest-etcd.error.js';

/**
 * The reason given when the module rebuilds etcd's shared watch stream because a new watch on it
 * was not even acknowledged within `watchStallTimeout`. Seen in log lines, never thrown to callers.
 */
export class EtcdWatchStalledError extends NestEtcdError {
  override readonly name = 'EtcdWatchStalledError';

  constructor() {
    super('nest-etcd: watch stream stalled (no answer to a new watch); rebuilding it');
  }
}
