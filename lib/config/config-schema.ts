import { createHash } from 'node:crypto';
import type { ConfigValueOptions } from './config-value.interface.js';

/**
 * Live schemas (docs/cli.md): the JSON Schema a `defineConfig` publishes at
 * `/config-schemas/<hash>`, content-addressed by {@link schemaHash}. The admin core computes hashes
 * with the same two functions, so one schema has one key whoever writes it.
 */

/**
 * The canonical JSON text of a value: object keys sorted recursively (by UTF-16 code unit, as
 * `Array.prototype.sort`), no whitespace, otherwise `JSON.stringify`'s rules (`undefined` members
 * left out, non-finite numbers as `null`). Two equal JSON documents have the same text.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)) ?? 'null';
}

/**
 * The hash a JSON Schema is published under: the SHA-256 (hex) of its {@link canonicalJson} text,
 * which is also the value stored at `/config-schemas/<hash>`.
 */
export function schemaHash(jsonSchema: unknown): string {
  return createHash('sha256').update(canonicalJson(jsonSchema), 'utf8').digest('hex');
}

function sortKeys(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  const withJson = value as { toJSON?: unknown };
  if (typeof withJson.toJSON === 'function') return sortKeys((withJson.toJSON as () => unknown)());
  if (Array.isArray(value)) return value.map(item => (item === undefined ? null : sortKeys(item)));
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const member = (value as Record<string, unknown>)[key];
    if (member === undefined || typeof member === 'function' || typeof member === 'symbol') {
      continue;
    }
    // defineProperty: a key named `__proto__` stays a key.
    Object.defineProperty(sorted, key, {
      value: sortKeys(member),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return sorted;
}

/** The JSON Schema a key's options describe, ready to publish. @internal */
export interface PublishedSchema {
  /** The JSON Schema (input side: what may be stored in etcd). */
  readonly jsonSchema: Record<string, unknown>;
  /** Its canonical JSON text (the value stored in etcd). */
  readonly text: string;
  /** SHA-256 hex of `text` (the key `/config-schemas/<hash>`). */
  readonly hash: string;
}

/**
 * What can be published for a key's options: a schema, or why none (`reason` is `undefined` when
 * the key has no schema at all, so there is nothing to say). @internal
 */
export type SchemaDescription =
  | { readonly published: PublishedSchema }
  | {
      readonly published?: undefined;
      readonly reason: string | undefined;
      /** The schema says more than JSON Schema can (a refinement, a transform): worth a warning. */
      readonly lossy?: boolean;
    };

interface ZodDefLike {
  type?: string;
  coerce?: boolean;
  checks?: Array<{ _zod?: { def?: { check?: string } } }>;
}

type ZodJsonSchemaParams = {
  io: 'input';
  unrepresentable: 'throw';
  override: (ctx: { zodSchema: { _zod?: { def?: ZodDefLike } } }) => void;
};

/**
 * The JSON Schema of a key's options, when they can describe themselves exactly: an explicit
 * `jsonSchema`, a zod 4 schema (`toJSONSchema({ io: 'input', unrepresentable: 'throw' })`) with no
 * transform, refinement or coercion (JSON Schema would accept what the app refuses, or the reverse),
 * or a Standard Schema offering JSON Schema (`~standard.jsonSchema.input`). A zod 3 or parse-only
 * schema, or a custom `parse` (it decides the value, not the key's format), publishes nothing.
 * @internal
 */
export function describeSchema(options: ConfigValueOptions<unknown>): SchemaDescription {
  if (options.jsonSchema !== undefined) {
    if (!isPlainObject(options.jsonSchema)) {
      return { reason: 'the jsonSchema option is not a JSON object' };
    }
    return { published: publishable(options.jsonSchema) };
  }
  const schema = options.schema as unknown;
  if (schema === undefined || schema === null) return { reason: undefined };
  if (options.parse) {
    return { reason: 'a custom parse decides the value, so a JSON Schema would not describe it' };
  }
  const zod = (schema as { _zod?: unknown; toJSONSchema?: unknown }).toJSONSchema;
  if ((schema as { _zod?: unknown })._zod !== undefined && typeof zod === 'function') {
    const unsupported = new Set<string>();
    let jsonSchema: unknown;
    try {
      jsonSchema = (zod as (params: ZodJsonSchemaParams) => unknown).call(schema, {
        io: 'input',
        unrepresentable: 'throw',
        override: ctx => {
          const def = ctx.zodSchema._zod?.def;
          if (!def) return;
          if (def.type === 'pipe' || def.type === 'transform') unsupported.add('a transform');
          if (def.coerce) unsupported.add('a coercion');
          if (def.checks?.some(check => check._zod?.def?.check === 'custom')) {
            unsupported.add('a refinement');
          }
        },
      });
    } catch (err) {
      return {
        reason: `the zod schema cannot be represented in JSON Schema: ${err instanceof Error ? err.message : String(err)}`,
        lossy: true,
      };
    }
    if (unsupported.size > 0) {
      return {
        reason: `the zod schema has ${[...unsupported].join(', ')}, which JSON Schema cannot express`,
        lossy: true,
      };
    }
    if (!isPlainObject(jsonSchema)) return { reason: 'the zod schema gave no JSON Schema object' };
    return { published: publishable(jsonSchema) };
  }
  const standard = (schema as { '~standard'?: { jsonSchema?: { input?: unknown } } })['~standard'];
  const input = standard?.jsonSchema?.input;
  if (typeof input === 'function') {
    try {
      const jsonSchema = (input as (options: { target: string }) => unknown).call(
        standard!.jsonSchema,
        { target: 'draft-2020-12' },
      );
      if (isPlainObject(jsonSchema)) return { published: publishable(jsonSchema) };
      return { reason: 'the schema gave no JSON Schema object' };
    } catch (err) {
      return {
        reason: `the schema cannot be represented in JSON Schema: ${err instanceof Error ? err.message : String(err)}`,
        lossy: true,
      };
    }
  }
  return {
    reason: 'the schema cannot describe itself as JSON Schema (zod 3 or a parse-only schema)',
  };
}

function publishable(jsonSchema: Record<string, unknown>): PublishedSchema {
  const text = canonicalJson(jsonSchema);
  return { jsonSchema, text, hash: createHash('sha256').update(text, 'utf8').digest('hex') };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
