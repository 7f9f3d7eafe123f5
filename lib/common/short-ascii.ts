/** Longest byte string {@link shortAsciiText} decodes itself; longer ones go to the native decoders. */
const SHORT = 256;

/**
 * The text of `bytes` from byte `from` on, when it is at most 256 bytes, all ASCII; else `undefined`.
 *
 * A config change is rare, so its path runs cold, in V8's interpreter: there this loop costs less
 * than the calls into native UTF-8 validation and decoding it replaces for the short keys and values
 * that make up nearly all config (measured in situ: ≈ 2 µs per key or value).
 * @internal
 */
export function shortAsciiText(bytes: Uint8Array, from = 0): string | undefined {
  const end = bytes.length;
  if (end - from > SHORT) return undefined;
  for (let i = from; i < end; i++) {
    if (bytes[i]! > 0x7f) return undefined;
  }
  const view = from === 0 ? bytes : bytes.subarray(from);
  return String.fromCharCode.apply(null, view as unknown as number[]);
}
