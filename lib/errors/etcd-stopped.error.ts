import { NestEtcdError } from './nest-etcd.error.js';

/**
 * Work was cut short because the module is shutting down (or its last user released it): a
 * registration that had not completed, an informer stopped before its first list, a watch asked for
 * after `app.close()`. Part of a normal shutdown, not a fault of etcd.
 */
export class EtcdStoppedError extends NestEtcdError {
  override readonly name = 'EtcdStoppedError';

  constructor(
    /** What was stopped, e.g. `registration of "/services/orders/web-1"`. */
    readonly what: string,
    /** Why, e.g. `before it completed`. */
    readonly detail: string,
  ) {
    super(`nest-etcd: ${what} was stopped ${detail}`);
  }
}
