import { NestEtcdError } from './nest-etcd.error.js';

/**
 * A config key was used (read, written, watched or injected with `@InjectConfig`) while the config
 * center is turned off with `config: false`.
 */
export class ConfigDisabledError extends NestEtcdError {
  override readonly name = 'ConfigDisabledError';

  constructor(
    /** The key that was used. */
    readonly key: string,
    /** How it was used: `injected` (through `@InjectConfig`) or `requested`. */
    readonly usage: 'injected' | 'requested',
  ) {
    super(
      `nest-etcd: config key "${key}" is ${usage} but the config center is disabled ` +
        '(config: false); remove config: false from the EtcdModule options to use it',
    );
  }
}
