import { NestEtcdError } from './nest-etcd.error.js';

/**
 * Thrown by `registry.fetch()` (and `EtcdClientProxy`) when a service has no live instance that
 * matches the call's `filter`.
 */
export class NoInstanceAvailableError extends NestEtcdError {
  override readonly name = 'NoInstanceAvailableError';

  constructor(
    /** The service that was called. */
    readonly serviceName: string,
    /** True when instances exist but none matched the call's `filter`. */
    readonly filtered: boolean,
  ) {
    super(
      filtered
        ? `no live instance of service "${serviceName}" matches the filter; check the instances' metadata (etcdctl get --prefix /services/${serviceName}/)`
        : `no live instance of service "${serviceName}" is registered; is it running and registered in etcd?`,
    );
  }
}
