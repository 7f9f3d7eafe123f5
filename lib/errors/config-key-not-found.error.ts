import { NestEtcdError } from './nest-etcd.error.js';

/** Thrown by `EtcdConfigService.getOrThrow()` when a key has no value. */
export class ConfigKeyNotFoundError extends NestEtcdError {
  override readonly name = 'ConfigKeyNotFoundError';

  constructor(
    /** The key, relative to the prefix. */
    readonly key: string,
    /** The config prefix the key was looked up under. */
    readonly prefix: string,
  ) {
    super(
      `Config key "${key}" not found under prefix "${prefix}" (etcd key "${prefix}${key}"); ` +
        `set it with: etcdctl put ${prefix}${key} <value>`,
    );
  }
}
