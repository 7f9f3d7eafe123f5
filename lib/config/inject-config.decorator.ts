import { Inject } from '@nestjs/common';
import { CONFIG_TOKEN_PREFIX } from '../common/etcd.constants.js';
import type { ConfigValueOptions } from './config-value.interface.js';
import { isConfigDefinition, type ConfigDefinition } from './define-config.js';

/**
 * Keys named by `@InjectConfig` anywhere in the program, with their options. Only names and options
 * are recorded here (no state): `EtcdModule.forRoot()` turns them into providers of its own.
 */
const recordedKeys = new Map<string, ConfigValueOptions<unknown>>();

/**
 * The injection token of the {@link ConfigValue} of a config key (or definition). Tests override a
 * key with `{ provide: getConfigToken('greeting'), useValue: ... }`.
 */
export function getConfigToken(key: string | ConfigDefinition<unknown>): string {
  return `${CONFIG_TOKEN_PREFIX}${typeof key === 'string' ? key : key.key}`;
}

/**
 * Injects a live {@link ConfigValue} of a config key: an Observable of the key's value with a
 * synchronous `.value`, loaded before the app finishes `init()`.
 *
 * Pass a definition from {@link defineConfig} to get its type from the schema
 * (`ConfigValueOf<typeof def>`), or a key and options. A key ending in `/` is a folder: every key
 * below it assembled into one object. Keys used only in lazily loaded modules must also be declared
 * with `EtcdModule.forFeature([...])`.
 *
 * @param key Config key relative to the config prefix (`greeting` is read from `/config/greeting`),
 *   or a definition.
 * @param options `default` while the key is missing, a custom `parse`, and/or a `schema` (e.g. zod)
 *   that rejects invalid updates (the last good value is kept).
 * @example
 * ```ts
 * @Injectable()
 * export class GreetingService {
 *   constructor(@InjectConfig('greeting', { default: 'Hello' }) private readonly greeting: ConfigValue<string>) {}
 *   greet(name: string) { return `${this.greeting.value}, ${name}`; }
 * }
 * ```
 */
export function InjectConfig<T = unknown>(
  key: string | ConfigDefinition<T>,
  options: ConfigValueOptions<T> = {},
): PropertyDecorator & ParameterDecorator {
  const [name, resolved] = isConfigDefinition(key)
    ? [key.key, key.options as ConfigValueOptions<unknown>]
    : [key, options as ConfigValueOptions<unknown>];
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError('@InjectConfig() needs a non-empty config key');
  }
  recordConfigKey(name, resolved);
  return Inject(getConfigToken(name));
}

/** Records a key (first options win). @internal */
export function recordConfigKey(key: string, options: ConfigValueOptions<unknown>): void {
  if (!recordedKeys.has(key)) recordedKeys.set(key, options);
}

/** The keys recorded by `@InjectConfig` so far, with the options of their first use. @internal */
export function recordedConfigKeys(): ReadonlyMap<string, ConfigValueOptions<unknown>> {
  return recordedKeys;
}
