import { Inject } from '@nestjs/common';
import { ETCD_CLIENT } from '../common/etcd.constants.js';

/**
 * Injects the module's `Etcd3` client (the root client, without the module's namespace) for advanced
 * use such as locks, elections or transactions. The module owns it and closes it on shutdown.
 *
 * @example
 * ```ts
 * constructor(@InjectEtcdClient() private readonly etcd: Etcd3) {}
 * await this.etcd.lock('jobs/nightly').do(() => runNightlyJob());
 * ```
 */
export function InjectEtcdClient(): PropertyDecorator & ParameterDecorator {
  return Inject(ETCD_CLIENT);
}
