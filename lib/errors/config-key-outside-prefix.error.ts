import { NestEtcdError } from './nest-etcd.error.js';

/** An admin command named an etcd key that lies under none of a service's config layers. */
export class ConfigKeyOutsidePrefixError extends NestEtcdError {
  override readonly name = 'ConfigKeyOutsidePrefixError';

  constructor(
    /** The key given. */
    readonly key: string,
    /** The service. */
    readonly service: string,
    /** The prefixes its instances read (own prefix and shared prefixes). */
    readonly prefixes: readonly string[],
  ) {
    super(
      `key "${key}" is outside every config prefix of service "${service}" ` +
        `(${prefixes.join(', ') || 'none'}): give a key relative to the prefix, or an etcd key under one of them`,
    );
  }
}
