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

/** How `@InjectConfig` decodes and validates a key. */
export interface ConfigValueOptions<T> {
  /** Value used while the key is missing in etcd (or deleted). */
  default?: T;
  /** Replaces the default decoding (JSON when it parses, else the string). Throw to reject a value. */
  parse?: (raw: string) => T;
  /** Validates the decoded value; anything with a `parse(value)` method that throws on bad input (e.g. zod). */
  schema?: { parse(value: unknown): T };
}

/** One change under the config prefix. */
export interface ConfigChange {
  /** Key relative to the config prefix. */
  key: string;
  /** The decoded new value (`undefined` for a delete). */
  value: unknown;
  /** The decoded value before the change (`undefined` when the key was new). */
  previousValue: unknown;
  type: 'put' | 'delete';
  /** etcd revision of the change. */
  revision: number;
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
