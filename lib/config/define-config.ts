import type {
  ConfigSchema,
  ConfigValue,
  ConfigValueOptions,
  StandardSchemaLike,
} from './config-value.interface.js';

/** A typed config key made by {@link defineConfig}; pass it to `@InjectConfig` and `@OnConfigChange`. */
export interface ConfigDefinition<T> {
  /** The config key (relative to the prefix); ends with `/` for a folder. */
  readonly key: string;
  /** Its default, `parse` and `schema`. */
  readonly options: ConfigValueOptions<T>;
}

/** The type a schema produces: zod 3 / zod 4 (`parse`), or a Standard Schema's output type. */
export type SchemaOutput<S> =
  S extends StandardSchemaLike<infer O>
    ? O
    : S extends { parse(value: unknown): infer O }
      ? O
      : unknown;

/**
 * The `ConfigValue` type injected for a definition:
 * `@InjectConfig(db) private readonly db: ConfigValueOf<typeof db>`.
 */
export type ConfigValueOf<D> = D extends ConfigDefinition<infer T> ? ConfigValue<T> : never;

/** The value type of a definition (like `ConfigType<typeof registerAs(...)>` in @nestjs/config). */
export type ConfigTypeOf<D> = D extends ConfigDefinition<infer T> ? T : never;

/**
 * Defines a typed config key once: its type comes from the schema (zod 3, zod 4, any object with
 * `parse`, or a Standard Schema), else from `parse`, else from `default`.
 *
 * @example
 * ```ts
 * import { z } from 'zod';
 * import { defineConfig, InjectConfig, type ConfigValueOf } from 'nest-etcd';
 *
 * export const db = defineConfig('db.yaml', {
 *   schema: z.object({ host: z.string(), port: z.number() }),
 *   default: { host: 'localhost', port: 5432 },
 * });
 *
 * class Repo {
 *   constructor(@InjectConfig(db) private readonly db: ConfigValueOf<typeof db>) {}
 * }
 * ```
 */
export function defineConfig<S extends ConfigSchema<unknown>>(
  key: string,
  options: {
    schema: S;
    default?: SchemaOutput<S>;
    parse?: (raw: string) => unknown;
    jsonSchema?: Record<string, unknown>;
  },
): ConfigDefinition<SchemaOutput<S>>;
export function defineConfig<T>(
  key: string,
  options: { parse: (raw: string) => T; default?: T; jsonSchema?: Record<string, unknown> },
): ConfigDefinition<T>;
export function defineConfig<T = unknown>(
  key: string,
  options?: { default?: T; jsonSchema?: Record<string, unknown> },
): ConfigDefinition<T>;
export function defineConfig(
  key: string,
  options: ConfigValueOptions<unknown> = {},
): ConfigDefinition<unknown> {
  if (typeof key !== 'string' || key.length === 0) {
    throw new TypeError('defineConfig() needs a non-empty config key');
  }
  return Object.freeze({ key, options: Object.freeze({ ...options }) });
}

/** Whether a value is a definition made by {@link defineConfig}. @internal */
export function isConfigDefinition(value: unknown): value is ConfigDefinition<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { key?: unknown }).key === 'string' &&
    typeof (value as { options?: unknown }).options === 'object'
  );
}
