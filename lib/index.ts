export { EtcdModule, type EtcdFeatureKey } from './etcd.module.js';
export type {
  EtcdModuleOptions,
  EtcdConfigOptions,
  EtcdRegistryOptions,
  EtcdRetryOptions,
} from './etcd-module-options.interface.js';
export { InvalidOptionsError } from './invalid-options.error.js';
export { EtcdConnectionError } from './client/etcd-connection.error.js';
export { EtcdAuthError } from './client/etcd-auth.error.js';
export { EtcdPermissionError } from './client/etcd-permission.error.js';
export { InjectEtcdClient } from './client/inject-etcd-client.decorator.js';
export { EtcdConfigService } from './config/etcd-config.service.js';
export { InjectConfig, getConfigToken } from './config/inject-config.decorator.js';
export { ConfigKeyNotFoundError } from './config/config-key-not-found.error.js';
export type {
  ConfigValue,
  ConfigValueOptions,
  ConfigChange,
  ConfigRejection,
} from './config/config-value.interface.js';
export { EtcdRegistryService } from './registry/etcd-registry.service.js';
export type {
  ServiceInstance,
  RegistryStatus,
  LoadBalancingStrategy,
} from './registry/service-instance.interface.js';
export { PrefixInformer } from './watch/prefix-informer.js';
export type {
  InformerChange,
  InformerEntry,
  InformerSnapshot,
  InformerState,
  InformerOptions,
  InformerResync,
} from './watch/informer.interfaces.js';
