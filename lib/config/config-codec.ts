import * as jsYaml from 'js-yaml';
import { shortAsciiText } from '../common/short-ascii.js';
import type { ConfigSchema, ConfigValueOptions } from './config-value.interface.js';

/** Outcome of decoding or validating one value. @internal */
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/** How a key's text is decoded, chosen by the key's name. @internal */
export type ConfigFormat = 'json' | 'yaml' | 'auto';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Raw bytes to text; rejects bytes that are not valid UTF-8. @internal */
export function decodeText(raw: Uint8Array): DecodeResult<string> {
  const ascii = shortAsciiText(raw);
  if (ascii !== undefined) return { ok: true, value: ascii };
  try {
    return { ok: true, value: utf8.decode(raw) };
  } catch {
    return { ok: false, reason: `value is not valid UTF-8 text (${raw.length} bytes)` };
  }
}

/**
 * The format of a key from its name: `*.json` is JSON, `*.yaml` / `*.yml` is YAML, anything else
 * is "auto" (JSON when it parses, else the string). @internal
 */
export function formatOf(key: string): ConfigFormat {
  // Most keys end in neither `n` (.json) nor `l` (.yaml / .yml): answered without slicing.
  const last = key.charCodeAt(key.length - 1) | 0x20;
  if (last !== 0x6e && last !== 0x6c) return 'auto';
  const name = key.slice(key.lastIndexOf('/') + 1).toLowerCase();
  if (name.endsWith('.json')) return 'json';
  if (name.endsWith('.yaml') || name.endsWith('.yml')) return 'yaml';
  return 'auto';
}

/**
 * Decodes the text of a key by its format. A `.json` or `.yaml` key whose text is not a valid
 * document is rejected (the caller keeps the last good value). @internal
 */
export function decodeByFormat(text: string, format: ConfigFormat): DecodeResult<unknown> {
  if (format === 'auto') return { ok: true, value: decodeDefault(text) };
  if (format === 'json') {
    try {
      return { ok: true, value: JSON.parse(text) as unknown };
    } catch (err) {
      return { ok: false, reason: `invalid JSON document: ${oneLine(err)}` };
    }
  }
  return parseYamlDocument(text, jsYaml);
}

/**
 * The part of js-yaml's API {@link parseYamlDocument} uses, spelled out so that the published type
 * declarations do not need js-yaml's (`@types/js-yaml` is a dev dependency only). @internal
 */
export interface YamlParser {
  load(text: string, options?: { schema?: unknown }): unknown;
  readonly CORE_SCHEMA: unknown;
}

/**
 * Parses one YAML document (YAML 1.2 core schema: no timestamps, binary or merge keys, as the
 * `yaml` library's default) and caps what its aliases expand to: a document whose aliases make it
 * more than 10 times its own node count and more than 100,000 nodes is rejected, so a "billion
 * laughs" never reaches code that walks the value (a schema, a mirror) on the event loop.
 *
 * Self-contained (it references nothing but its parameters and globals): the YAML worker runs it
 * from its source text (`parseYamlDocument.toString()`).
 * @internal
 */
export function parseYamlDocument(text: string, yaml: YamlParser): DecodeResult<unknown> {
  const line = (what: string): string => {
    const flat = what.replace(/\s+/g, ' ').trim();
    return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
  };
  let value: unknown;
  try {
    value = yaml.load(text, { schema: yaml.CORE_SCHEMA });
  } catch (err) {
    // js-yaml: `reason` is the message without its code frame; `mark` is 0-based.
    const error = err as {
      reason?: unknown;
      message?: unknown;
      mark?: { line?: number; column?: number };
    };
    const reason = typeof error.reason === 'string' ? error.reason : String(error.message ?? err);
    const mark = error.mark;
    const where =
      mark && typeof mark.line === 'number' && typeof mark.column === 'number'
        ? ` at line ${mark.line + 1}, column ${mark.column + 1}`
        : '';
    return { ok: false, reason: `invalid YAML document: ${line(reason + where)}` };
  }
  // Nodes as written (each object once) and as a reader walking the value sees them (each alias a copy).
  const expandedSize = new Map<object, number>();
  let written = 0;
  const size = (node: unknown): number => {
    if (typeof node !== 'object' || node === null) return 1;
    const known = expandedSize.get(node);
    if (known !== undefined) return known;
    written++;
    let total = 1;
    const children: unknown[] = Array.isArray(node) ? node : Object.values(node);
    for (const child of children) {
      if (typeof child !== 'object' || child === null) written++;
      total += size(child);
    }
    expandedSize.set(node, total);
    return total;
  };
  const expanded = size(value);
  const limit = Math.max(100_000, 10 * written);
  if (expanded > limit) {
    return {
      ok: false,
      reason:
        `invalid YAML document: its aliases expand ${written} nodes to ${expanded} ` +
        `(more than ${limit}); expand them in the document or use fewer aliases`,
    };
  }
  // An empty document is null (as JSON's `null`), never `undefined` (a missing key).
  return { ok: true, value: value === undefined ? null : value };
}

/**
 * The default decoding: a value that parses as JSON is the parsed value; anything else is the string.
 * @internal
 */
export function decodeDefault(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed.length === 0) return text;
  const first = trimmed[0];
  // Only attempt JSON for values that can be JSON, so plain words stay cheap.
  if (
    first !== '{' &&
    first !== '[' &&
    first !== '"' &&
    first !== '-' &&
    !(first! >= '0' && first! <= '9') &&
    trimmed !== 'true' &&
    trimmed !== 'false' &&
    trimmed !== 'null'
  ) {
    return text;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Applies a key's `@InjectConfig` options to a value the store already decoded once: a custom
 * `parse` replaces the decoding (it gets the text), then `schema` validates. @internal
 */
export function applyOptions<T>(
  text: () => string,
  decoded: unknown,
  options: ConfigValueOptions<T>,
): DecodeResult<T> {
  let value = decoded;
  if (options.parse) {
    try {
      value = options.parse(text());
    } catch (err) {
      return { ok: false, reason: `parse failed: ${oneLine(err)}` };
    }
  }
  if (options.schema) return validate(options.schema, value);
  return { ok: true, value: value as T };
}

/**
 * Decodes raw bytes with a key's options (UTF-8, then `parse` or the default decoding, then
 * `schema`). @internal
 */
export function decodeWith<T>(raw: Uint8Array, options: ConfigValueOptions<T>): DecodeResult<T> {
  const text = decodeText(raw);
  if (!text.ok) return text;
  return applyOptions(
    () => text.value,
    options.parse ? undefined : decodeDefault(text.value),
    options,
  );
}

interface StandardResult {
  value?: unknown;
  issues?: ReadonlyArray<{ message: string; path?: ReadonlyArray<unknown> }>;
}

/**
 * Validates a value with a schema: a Standard Schema (`~standard.validate`, e.g. zod 3.24+, zod 4,
 * valibot, arktype) or any object whose `parse(value)` throws on bad input. The reason of a
 * rejection is one readable line (`port: Expected number, received string; host: Required`).
 * @internal
 */
export function validate<T>(schema: ConfigSchema<T>, value: unknown): DecodeResult<T> {
  const standard = (schema as { '~standard'?: { validate?: unknown } })['~standard'];
  if (standard && typeof standard.validate === 'function') {
    let result: StandardResult | Promise<StandardResult>;
    try {
      result = (standard.validate as (v: unknown) => StandardResult | Promise<StandardResult>)(
        value,
      );
    } catch (err) {
      return { ok: false, reason: `schema rejected it: ${describeSchemaError(err)}` };
    }
    if (result instanceof Promise) {
      void result.catch(() => undefined);
      return {
        ok: false,
        reason: 'schema is asynchronous; config schemas must validate synchronously',
      };
    }
    if (result.issues) {
      return { ok: false, reason: `schema rejected it: ${formatIssues(result.issues)}` };
    }
    return { ok: true, value: result.value as T };
  }
  if (typeof (schema as { parse?: unknown }).parse !== 'function') {
    return { ok: false, reason: 'schema has neither parse() nor ~standard.validate()' };
  }
  try {
    return { ok: true, value: (schema as { parse(v: unknown): T }).parse(value) };
  } catch (err) {
    return { ok: false, reason: `schema rejected it: ${describeSchemaError(err)}` };
  }
}

/**
 * One readable line for a schema failure: the issues of a zod 3 / zod 4 error (`path: message; ...`),
 * else the error's message on one line. @internal
 */
export function describeSchemaError(err: unknown): string {
  const issues = (err as { issues?: unknown } | undefined)?.issues;
  if (Array.isArray(issues) && issues.length > 0 && issues.every(isIssue)) {
    return formatIssues(issues);
  }
  return oneLine(err);
}

/** `a.b: message; c[0]: message` (capped). @internal */
export function formatIssues(
  issues: ReadonlyArray<{ message: string; path?: ReadonlyArray<unknown> }>,
): string {
  const parts = issues.map(issue => {
    const path = formatPath(issue.path ?? []);
    return path ? `${path}: ${issue.message}` : issue.message;
  });
  return cap(parts.join('; ').replace(/\s+/g, ' ').trim());
}

function formatPath(path: ReadonlyArray<unknown>): string {
  let out = '';
  for (const segment of path) {
    const key =
      segment !== null && typeof segment === 'object' && 'key' in segment ? segment.key : segment;
    if (typeof key === 'number') out += `[${key}]`;
    else out += out.length === 0 ? String(key) : `.${String(key)}`;
  }
  return out;
}

function isIssue(value: unknown): value is { message: string; path?: unknown[] } {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { message?: unknown }).message === 'string'
  );
}

/** How `set()` stores a value: strings as-is, anything else as JSON. @internal */
export function encodeValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
    throw new TypeError(`cannot store a ${typeof value} in etcd; use delete() to remove a key`);
  }
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError('value cannot be encoded as JSON');
  return json;
}

function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return cap(text.replace(/\s+/g, ' ').trim());
}

function cap(line: string): string {
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
