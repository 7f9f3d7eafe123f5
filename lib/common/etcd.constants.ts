/** Injection token of the fully resolved (defaults applied, validated) module options. Internal. */
export const ETCD_RESOLVED_OPTIONS = Symbol('nest-etcd:resolved-options');

/** Injection token of the root `Etcd3` client. Use {@link InjectEtcdClient} rather than this token. */
export const ETCD_CLIENT = Symbol('nest-etcd:client');

/** Prefix of the injection tokens produced by {@link getConfigToken}. */
export const CONFIG_TOKEN_PREFIX = 'nest-etcd:config:';

/** Metadata key of `@OnConfigChange` (on the decorated method). Internal. */
export const ON_CONFIG_CHANGE_METADATA = 'nest-etcd:on-config-change';
