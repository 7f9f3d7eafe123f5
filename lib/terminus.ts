// Entry point of the `nest-etcd/terminus` subpath: only apps that use @nestjs/terminus load it.
export {
  EtcdHealthIndicator,
  type EtcdHealthCheckOptions,
} from './health/etcd-health.indicator.js';
