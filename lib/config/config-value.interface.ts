import type { Observable } from 'rxjs';

/**
 * A live config value: an `Observable<T>` that emits the current value on subscribe and then each
 * accepted change, plus a synchronous `.value`. Injected by `@InjectConfig(key)`; never a stale
 * snapshot.
 */
export interface ConfigValue<T> extends Observable<T> {
  /** The config key (relative to the config prefix). */
  readonly key: string;
  /** The last accepted value (the default when the key is missing). */
  readonly value: T;
}

/**
 * A Standard Schema (https://standardschema.dev): zod 3.24+, zod 4, valibot, arktype... Only the
 * synchronous `validate` is used.
 */
export interface StandardSchemaLike<T> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => unknown;
    readonly types?: { readonly input: unknown; readonly output: T } | undefined;
  };
}

/**
 * What `schema` accepts: anything with a `parse(value)` method that throws on bad input (zod 3,
 * zod 4, class-validator wrappers...), or a Standard Schema.
 */
export type ConfigSchema<T> = { parse(value: unknown): T } | StandardSchemaLike<T>;

/** How `@InjectConfig` decodes and validates a key. */
export interface ConfigValueOptions<T> {
  /** Value used while the key is missing in etcd (or deleted). */
  default?: T;
  /**
   * Replaces the decoding by key name (JSON for `*.json`, YAML for `*.yaml`, else JSON when it
   * parses, else the string). Throw to reject a value.
   */
  parse?: (raw: string) => T;
  /** Validates the decoded value (zod, any object with `parse`, or a Standard Schema). */
  schema?: ConfigSchema<T>;
  /**
   * The JSON Schema of the value, published at `/config-schemas/<hash>` for operators' tools
   * (validate before a put). Not needed with a zod 4 schema or a Standard Schema that offers JSON
   * Schema: theirs is published. Declaring it does not validate anything in the app itself.
   */
  jsonSchema?: Record<string, unknown>;
}

/** One change of a key's effective value. */
export interface ConfigChange {
  /** Key relative to the config prefix (a folder key such as `db/` for folder handlers). */
  key: string;
  /** The decoded new value (`undefined` for a delete). */
  value: unknown;
  /** The decoded value before the change (`undefined` when the key was new). */
  previousValue: unknown;
  type: 'put' | 'delete';
  /** etcd revision of the change. */
  revision: number;
  /**
   * The etcd key (inside the namespace) that supplies the effective value now, e.g.
   * `/config/@canary/greeting` while the canary overlay is set; for a delete, the key that was
   * removed.
   */
  source: string;
}

/** One revision of a key in etcd's history (`EtcdConfigService.history()`). */
export interface ConfigRevision {
  /** The decoded value at that revision (`undefined` for a delete). */
  value: unknown;
  /** The raw text stored at that revision (`undefined` for a delete). */
  raw: string | undefined;
  /** The etcd revision of the change. */
  revision: number;
  /** The key's version at that revision (1 for a create, 0 for a delete). */
  version: number;
  /** True when the key was deleted at that revision. */
  deleted: boolean;
  /**
   * Whether the app would accept that value: it decodes by the key's format and passes the key's
   * `parse` / `schema` (always true for a delete, where the default applies).
   */
  valid: boolean;
  /** Why the app would refuse it (when `valid` is false). */
  reason?: string;
}

/** A value the config center refused (the last good value is kept). */
export interface ConfigRejection {
  /** Key relative to the config prefix. */
  key: string;
  /** etcd revision of the refused value. */
  revision: number;
  /** Why it was refused (invalid UTF-8, `parse` or `schema` error). */
  reason: string;
}

/**
 * The outcome of `EtcdConfigService.validate()`: the value the app would serve, or why it would
 * refuse the text (one line).
 */
export type ConfigValidation<T> = { ok: true; value: T } | { ok: false; reason: string };
