import { isUtf8 } from 'node:buffer';
import { shortAsciiText } from '../common/short-ascii.js';

/**
 * etcd keys are bytes. The informer names a key by a string that is lossless and readable:
 *
 * - a key that is valid UTF-8 is its UTF-8 text (what every consumer expects: `/config/greeting`);
 * - any byte that is not part of a valid UTF-8 sequence becomes the lone surrogate `U+DC00 + byte`
 *   (the "surrogateescape" scheme of PEP 383). Valid UTF-8 never decodes to a lone surrogate, so two
 *   different keys never get the same name, and {@link encodeKey} gives back the exact bytes.
 *
 * `/config/\xff` and `/config/\xfe` therefore stay two keys (`'/config/\udcff'`, `'/config/\udcfe'`)
 * instead of both folding into `'/config/\ufffd'`.
 *
 * `from`: the first byte of the key's name (the bytes before it, a namespace, are skipped).
 * @internal
 */
export function decodeKey(bytes: Buffer, from = 0): string {
  const ascii = shortAsciiText(bytes, from);
  if (ascii !== undefined) return ascii;
  if (isUtf8(bytes)) return bytes.toString('utf8', from);
  let out = '';
  let i = from;
  while (i < bytes.length) {
    const length = validSequenceLength(bytes, i);
    if (length > 0) {
      out += bytes.toString('utf8', i, i + length);
      i += length;
    } else {
      out += String.fromCharCode(0xdc00 + bytes[i]!);
      i += 1;
    }
  }
  return out;
}

/** The exact bytes of a key named by {@link decodeKey}. @internal */
export function encodeKey(key: string): Buffer {
  if (!hasEscapedByte(key)) return Buffer.from(key, 'utf8');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    if (code >= 0xdc80 && code <= 0xdcff && !isLowSurrogateOfPair(key, i)) {
      if (i > start) parts.push(Buffer.from(key.slice(start, i), 'utf8'));
      parts.push(Buffer.from([code - 0xdc00]));
      start = i + 1;
    }
  }
  if (start < key.length) parts.push(Buffer.from(key.slice(start), 'utf8'));
  return Buffer.concat(parts);
}

/**
 * True when the key's bytes are valid UTF-8, i.e. its name is plain text. Consumers that need text
 * (config keys) skip the others.
 */
export function isUtf8Key(key: string): boolean {
  return !hasEscapedByte(key);
}

/** A readable form of a key for log lines: escaped bytes shown as `\xff`. @internal */
export function printableKey(key: string): string {
  if (!hasEscapedByte(key)) return key;
  let out = '';
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    out +=
      code >= 0xdc80 && code <= 0xdcff && !isLowSurrogateOfPair(key, i)
        ? `\\x${(code - 0xdc00).toString(16).padStart(2, '0')}`
        : key[i];
  }
  return out;
}

// A lone low surrogate in U+DC80..U+DCFF (not the second half of a pair).
const ESCAPED = /(?<![\ud800-\udbff])[\udc80-\udcff]/;

function hasEscapedByte(key: string): boolean {
  return ESCAPED.test(key);
}

function isLowSurrogateOfPair(key: string, i: number): boolean {
  if (i === 0) return false;
  const before = key.charCodeAt(i - 1);
  return before >= 0xd800 && before <= 0xdbff;
}

/** Length of the valid UTF-8 sequence starting at `i` (RFC 3629), or 0 when it is not one. */
function validSequenceLength(bytes: Buffer, i: number): number {
  const b0 = bytes[i]!;
  if (b0 < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => {
    const b = bytes[i + k];
    return b !== undefined && b >= lo && b <= hi;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((b0 >= 0xe1 && b0 <= 0xec) || b0 === 0xee || b0 === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b0 === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0; // no UTF-16 surrogates
  if (b0 === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xf1 && b0 <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}
