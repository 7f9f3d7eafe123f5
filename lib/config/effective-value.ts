import { sameBytes, type ConfigEntry } from './config-store.js';

/**
 * What a {@link LiveConfigValue} is handed: a key's effective value (decoded once by the store), its
 * bytes when it comes from one etcd key (the text is then decoded only when asked), or its text.
 * @internal
 */
export interface EffectiveValue {
  readonly text: string;
  readonly raw?: Uint8Array;
  readonly value: unknown;
  /** The etcd key that supplies it (a folder: `<prefix><folder>`). */
  readonly source: string;
  /** The mod revision of the value served (a folder: the newest of its keys). */
  readonly revision: number;
  /** For a folder: the etcd keys it is assembled from, in order. */
  readonly parts?: readonly EffectivePart[];
  /** For a single key: the entry it is read from. */
  readonly entry?: ConfigEntry;
}

/** One etcd key a folder value is assembled from (a {@link ConfigEntry}). @internal */
export interface EffectivePart {
  /** The etcd key. */
  readonly key: string;
  /** Its bytes. */
  readonly value: Uint8Array;
}

/**
 * The effective value of a single key, as a {@link LiveConfigValue} is handed it: its entry, read
 * on demand (no text is decoded unless a custom `parse` asks for it). @internal
 */
export class EntryValue implements EffectiveValue {
  constructor(readonly entry: ConfigEntry) {}

  get text(): string {
    return this.entry.text;
  }

  get raw(): Uint8Array {
    return this.entry.value;
  }

  get value(): unknown {
    return this.entry.decoded;
  }

  get source(): string {
    return this.entry.key;
  }

  get revision(): number {
    return this.entry.modRevision;
  }
}

/** Whether two effective values hold the same bytes (or text). @internal */
export function sameEffective(
  a: EffectiveValue | undefined,
  b: EffectiveValue | undefined,
): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  if (a.parts || b.parts) return !!a.parts && !!b.parts && sameParts(a.parts, b.parts);
  if (a.entry && b.entry) return a.entry.sameBytesAs(b.entry);
  return a.raw && b.raw ? sameBytes(a.raw, b.raw) : a.text === b.text;
}

/** Same keys with the same bytes (an unchanged key is the same entry object: no byte compare). */
function sameParts(a: readonly EffectivePart[], b: readonly EffectivePart[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y && (x.key !== y.key || !sameBytes(x.value, y.value))) return false;
  }
  return true;
}
