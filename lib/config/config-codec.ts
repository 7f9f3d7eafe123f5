import type { ConfigValueOptions } from './config-value.interface.js';

/** Outcome of decoding one raw value. @internal */
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Raw bytes to text; rejects bytes that are not valid UTF-8. @internal */
export function decodeText(raw: Uint8Array): DecodeResult<string> {
  try {
    return { ok: true, value: utf8.decode(raw) };
  } catch {
    return { ok: false, reason: `value is not valid UTF-8 text (${raw.length} bytes)` };
  }
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

/** Decodes a raw value with the key's options (`parse`, then `schema`). @internal */
export function decodeWith<T>(raw: Uint8Array, options: ConfigValueOptions<T>): DecodeResult<T> {
  const text = decodeText(raw);
  if (!text.ok) return text;
  let value: unknown;
  try {
    value = options.parse ? options.parse(text.value) : decodeDefault(text.value);
  } catch (err) {
    return { ok: false, reason: `parse failed: ${reasonOf(err)}` };
  }
  if (options.schema) {
    try {
      value = options.schema.parse(value);
    } catch (err) {
      return { ok: false, reason: `schema rejected it: ${reasonOf(err)}` };
    }
  }
  return { ok: true, value: value as T };
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

function reasonOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
