export { EtcdModule, type EtcdFeatureKey } from './etcd.module.js';
export type {
  EtcdModuleOptions,
  EtcdMetricsOptions,
  EtcdMetricsRegistry,
  EtcdConfigOptions,
  EtcdRegistryOptions,
  EtcdRetryOptions,
} from './options/etcd-module-options.interface.js';
export type {
  EtcdModuleAsyncOptions,
  EtcdOptionsFactory,
} from './options/etcd-module-async-options.interface.js';
export { NestEtcdError } from './errors/nest-etcd.error.js';
export { InvalidOptionsError } from './errors/invalid-options.error.js';
export { UnknownOptionError } from './errors/unknown-option.error.js';
export { EtcdConnectionError } from './errors/etcd-connection.error.js';
export { EtcdAuthError } from './errors/etcd-auth.error.js';
export { EtcdPermissionError } from './errors/etcd-permission.error.js';
export { EtcdStoppedError } from './errors/etcd-stopped.error.js';
export { EtcdRequestRejectedError } from './errors/etcd-request-rejected.error.js';
export { EtcdUnavailableError } from './errors/etcd-unavailable.error.js';
export { ConfigDisabledError } from './errors/config-disabled.error.js';
export { ConfigKeyNotFoundError } from './errors/config-key-not-found.error.js';
export { EtcdLockTimeoutError } from './errors/etcd-lock-timeout.error.js';
export { EtcdLockLostError } from './errors/etcd-lock-lost.error.js';
export { ConfigRevisionCompactedError } from './errors/config-revision-compacted.error.js';
export { ConfigRevisionAbsentError } from './errors/config-revision-absent.error.js';
export { OptionalDependencyMissingError } from './errors/optional-dependency-missing.error.js';
export { InjectEtcdClient } from './client/inject-etcd-client.decorator.js';
export { EtcdConfigService } from './config/etcd-config.service.js';
export { InjectConfig, getConfigToken } from './config/inject-config.decorator.js';
export { OnConfigChange } from './config/on-config-change.decorator.js';
export {
  defineConfig,
  type ConfigDefinition,
  type ConfigValueOf,
  type ConfigTypeOf,
  type SchemaOutput,
} from './config/define-config.js';
export { canonicalJson, schemaHash } from './config/config-schema.js';
export type { ConfigStatus, ConfigKeyStatus } from './config/config-status.js';
export type {
  ConfigValue,
  ConfigValueOptions,
  ConfigSchema,
  StandardSchemaLike,
  ConfigRevision,
  ConfigChange,
  ConfigRejection,
  ConfigValidation,
} from './config/config-value.interface.js';
export { EtcdRegistryService } from './registry/etcd-registry.service.js';
export type { RegistryStatus } from './registry/registry-status.interface.js';
export type {
  ServiceInstance,
  LoadBalancingStrategy,
} from './discovery/service-instance.interface.js';
export type {
  ChooseOptions,
  InstanceFilter,
  RegistryFetchInit,
} from './discovery/discovery.interfaces.js';
export { NoInstanceAvailableError } from './errors/no-instance-available.error.js';
export { ServiceCallError, type FailedAttempt } from './errors/service-call.error.js';
export {
  EtcdDiscoveryExceptionFilter,
  type EtcdDiscoveryErrorBody,
} from './discovery/etcd-discovery-exception.filter.js';
export { EtcdWatchService, type PrefixUpdate } from './watch/etcd-watch.service.js';
export { EtcdElectionService } from './election/etcd-election.service.js';
export { LeaderOnly } from './election/leader-only.decorator.js';
export { EtcdLockService, type WithLockOptions } from './lock/etcd-lock.service.js';
export type { PrefixChange, PrefixEntry, PrefixSnapshot } from './watch/prefix-watch.interfaces.js';
