import { ON_CONFIG_CHANGE_METADATA } from '../common/etcd.constants.js';
import type { ConfigValueOptions } from './config-value.interface.js';
import { isConfigDefinition, type ConfigDefinition } from './define-config.js';

/** What `@OnConfigChange` records on a method. @internal */
export interface OnConfigChangeMetadata {
  readonly key: string;
  /** The definition's options; `undefined` for a plain key (the options of `@InjectConfig` apply). */
  readonly options: ConfigValueOptions<unknown> | undefined;
}

/**
 * Calls the decorated method of any provider once per accepted change of a config key (or
 * definition, or folder `db/`): `(value, change: ConfigChange) => void | Promise<void>`. It runs
 * after the change passed `parse` / `schema`; a handler that throws or rejects is logged and never
 * stops the others; a slow one delays only its own later calls (calls to one handler stay in order).
 *
 * @example
 * ```ts
 * @Injectable()
 * export class CacheWarmer {
 *   @OnConfigChange('greeting')
 *   onGreeting(value: unknown, change: ConfigChange) {
 *     console.log(`greeting is now ${String(value)} (revision ${change.revision})`);
 *   }
 * }
 * ```
 */
export function OnConfigChange(key: string | ConfigDefinition<unknown>): MethodDecorator {
  const metadata: OnConfigChangeMetadata = isConfigDefinition(key)
    ? { key: key.key, options: key.options }
    : { key, options: undefined };
  if (typeof metadata.key !== 'string' || metadata.key.length === 0) {
    throw new TypeError('@OnConfigChange() needs a non-empty config key or a definition');
  }
  return (_target, _property, descriptor) => {
    const method = descriptor.value as object;
    const previous = (Reflect.getMetadata(ON_CONFIG_CHANGE_METADATA, method) ??
      []) as OnConfigChangeMetadata[];
    Reflect.defineMetadata(ON_CONFIG_CHANGE_METADATA, [...previous, metadata], method);
    return descriptor;
  };
}
