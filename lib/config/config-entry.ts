import type { InformerEntry } from '../watch/informer.interfaces.js';
import { formatOf } from './config-codec.js';
import type { ConfigLayer } from './config-layers.js';

const utf8 = new TextDecoder('utf-8');

/** How an entry is decoded when something first reads it (the store's `ConfigDecoder`). @internal */
export interface EntryDecoder {
  /**
   * The decoded value, a {@link RejectedRevision}, or a {@link PendingRevision} (decoded off the
   * loop); `fallback` is the revision before, whose accepted entry a rejection keeps.
   */
  decode(entry: ConfigEntry, fallback: ConfigEntry | undefined): unknown;
}

/** A layer with its precedence: the highest rank holding a key supplies its effective value. @internal */
export interface RankedLayer extends ConfigLayer {
  readonly rank: number;
  /** Decodes the layer's entries (absent: entries are made decoded). */
  readonly decoder?: EntryDecoder;
}

/**
 * A revision of a key that could not be decoded (not UTF-8, not a valid document for its format, or
 * larger than `config.maxValueBytes`), and the entry served instead: the last good revision served,
 * if there was one. @internal
 */
export class RejectedRevision {
  constructor(
    readonly reason: string,
    readonly kept: ConfigEntry | undefined,
    /** Where `kept` came from, or why there is none (for the warning line). */
    readonly note?: string,
  ) {}
}

/**
 * A revision being decoded off the event loop (a large YAML document, in the YAML worker), and the
 * entry served until it is: the last good revision served, if there was one. @internal
 */
export class PendingRevision {
  constructor(
    readonly kept: ConfigEntry | undefined,
    /** Settles when the revision is decoded (never rejects). */
    readonly done: Promise<void>,
  ) {}
}

/** The state of an entry nothing has read yet. @internal */
export const UNDECODED: unique symbol = Symbol('undecoded');

/**
 * The state of an entry nothing has read yet that was checked valid off the event loop, for the
 * status (a large YAML document parsed in the worker, its value not handed back). Decoded when read.
 * @internal
 */
export const VALID: unique symbol = Symbol('valid');

/** Whether a state holds no decoded value (nothing read the revision yet). */
function unread(state: unknown): boolean {
  return state === UNDECODED || state === VALID;
}

/**
 * One etcd key of a config layer. It is at once the informer's entry and the store's: the informer
 * keeps it in its map, and the store reads that map, so each key costs one map slot and one object.
 * The bytes are referenced as (buffer, offset, length) rather than held as a `Buffer` view (≈ 96
 * bytes of heap per key). A revision is decoded when something first reads it ({@link decoded}), at
 * most once; the text is decoded from the bytes on demand.
 * @internal
 */
export class ConfigEntry implements InformerEntry {
  /** The decoded value, a {@link RejectedRevision} / {@link PendingRevision}, or UNDECODED. */
  private state: unknown;
  /**
   * Until decoded: the revision kept if this one is rejected (resolved to its accepted entry then).
   */
  private fallback: ConfigEntry | undefined;

  /**
   * @param decoded The decoded value (or a {@link RejectedRevision}); omitted: decoded when read, with
   *   `fallback` served if it is rejected.
   */
  constructor(
    /** The etcd key (inside the namespace), e.g. `/config/@canary/greeting`. */
    readonly key: string,
    private readonly bytes: ArrayBufferLike,
    private readonly offset: number,
    private readonly byteLength: number,
    readonly modRevision: number,
    readonly createRevision: number,
    readonly version: number,
    readonly lease: string,
    /** The layer the key belongs to. */
    readonly layer: RankedLayer,
    decoded: unknown = UNDECODED,
    fallback?: ConfigEntry,
  ) {
    this.state = decoded;
    this.fallback = decoded === UNDECODED ? fallback : undefined;
  }

  /**
   * The value decoded by the key's format (JSON / YAML / JSON-or-string), or why this revision was
   * rejected (or that it is still being decoded) and what is served instead. Decodes on first read.
   */
  get decoded(): unknown {
    if (!unread(this.state)) return this.state;
    const kept = this.fallback;
    this.fallback = undefined;
    this.state = this.layer.decoder!.decode(this, kept);
    return this.state;
  }

  /** Decodes the revision now if nothing read it yet. */
  decode(): void {
    if (unread(this.state)) void this.decoded;
  }

  /** Whether the revision was decoded (or rejected) already: reading {@link decoded} costs nothing. */
  get isDecoded(): boolean {
    return !unread(this.state) && !(this.state instanceof PendingRevision);
  }

  /** Whether nothing read nor checked the revision yet. */
  get isUnchecked(): boolean {
    return this.state === UNDECODED;
  }

  /** Whether what the status says of the revision is known: it is decoded, rejected or checked. */
  get isKnown(): boolean {
    return this.state === VALID || this.isDecoded;
  }

  /** An unread revision was checked valid off the loop (its value is decoded when read). */
  checkedValid(): void {
    if (this.state === UNDECODED) this.state = VALID;
  }

  /**
   * An unread revision was found invalid off the loop: `reject` makes its {@link RejectedRevision}
   * from the revision it keeps.
   */
  checkedInvalid(reject: (fallback: ConfigEntry | undefined) => unknown): void {
    if (this.state !== UNDECODED) return;
    const kept = this.fallback;
    this.fallback = undefined;
    this.state = reject(kept);
  }

  /** Ends a {@link PendingRevision}: the value decoded off the loop, or a {@link RejectedRevision}. */
  settle(decoded: unknown): void {
    this.state = decoded;
  }

  /** The bytes stored in etcd (a view, made on each call). */
  get value(): Buffer {
    return Buffer.from(this.bytes, this.offset, this.byteLength);
  }

  /** The size of the value in bytes. */
  get size(): number {
    return this.byteLength;
  }

  /** Whether `bytes` are the bytes of this entry (no view made when the lengths differ). */
  holds(bytes: Uint8Array): boolean {
    return bytes.length === this.byteLength && sameBytes(this.value, bytes);
  }

  /**
   * Whether `other`, an entry of the same config key, holds the same bytes. Decoding is a function
   * of the bytes, so two different decoded scalars (or lengths) answer without reading them.
   */
  sameBytesAs(other: ConfigEntry): boolean {
    if (other === this) return true;
    if (other instanceof MergedEntry) return other.sameBytesAs(this);
    if (other.byteLength !== this.byteLength) return false;
    if (other.bytes === this.bytes && other.offset === this.offset) return true;
    const a = this.state;
    if (!unread(a) && isScalar(a) && !unread(other.state) && !Object.is(a, other.state)) {
      return false;
    }
    return sameBytes(this.value, other.value);
  }

  /** The config key it supplies, relative to its layer (e.g. `greeting`). */
  get configKey(): string {
    return this.key.slice(this.layer.prefix.length);
  }

  /** Precedence of its layer. */
  get rank(): number {
    return this.layer.rank;
  }

  /** The source prefix whose watch delivers it. */
  get source(): string {
    return this.layer.source;
  }

  /**
   * The entry served for this key: itself, or the last good revision when this one was rejected or
   * is still being decoded. Decodes this revision if nothing read it yet.
   */
  get accepted(): ConfigEntry | undefined {
    const decoded = this.decoded;
    return decoded instanceof RejectedRevision || decoded instanceof PendingRevision
      ? decoded.kept
      : this;
  }

  /**
   * The entry that was served for this key while this revision was the newest, without decoding
   * anything: itself once decoded and accepted, else the revision kept.
   */
  get served(): ConfigEntry | undefined {
    const state = this.state;
    if (unread(state)) return this.fallback?.served;
    return state instanceof RejectedRevision || state instanceof PendingRevision
      ? state.kept
      : this;
  }

  /**
   * The entry the status reports for this key, without decoding anything: {@link served}, or itself
   * once checked valid.
   */
  get reported(): ConfigEntry | undefined {
    return this.state === VALID ? this : this.served;
  }

  /**
   * What a newer revision of this key keeps if it is rejected, without decoding anything: this
   * revision while nothing has read it (it is decoded only if it is needed), else the revision it
   * serves. Bounded: an unread revision then keeps only a decoded revision of its own, so a key that
   * changes often with nothing reading it holds at most three revisions.
   */
  fallbackFor(): ConfigEntry | undefined {
    const state = this.state;
    if (unread(state)) {
      if (this.fallback && !this.fallback.isDecoded) this.fallback = undefined;
      return this;
    }
    return state instanceof RejectedRevision || state instanceof PendingRevision
      ? state.kept
      : this;
  }

  /** The UTF-8 text stored in etcd. */
  get text(): string {
    // A plain ASCII word under the default rule decoded as itself (a JSON string is shorter than
    // its quoted text): no second copy.
    const decoded = this.state;
    return typeof decoded === 'string' &&
      decoded.length === this.byteLength &&
      formatOf(this.key) === 'auto'
      ? decoded
      : utf8.decode(this.value);
  }
}

/**
 * The effective value of a document (`*.json`, `*.yaml`) whose active profile overlays merge into the
 * document below them ({@link mergeDocuments}): named after the highest overlay (its etcd key is the
 * `source`), at the newest revision of its parts, its text the merged document as JSON. @internal
 */
export class MergedEntry extends ConfigEntry {
  constructor(
    /** The entries merged, highest layer first (the last one is the base document, if any). */
    readonly parts: readonly ConfigEntry[],
    merged: unknown,
  ) {
    const top = parts[0]!;
    const bytes = Buffer.from(JSON.stringify(merged) ?? 'null', 'utf8');
    super(
      top.key,
      bytes.buffer,
      bytes.byteOffset,
      bytes.byteLength,
      Math.max(...parts.map(part => part.modRevision)),
      top.createRevision,
      top.version,
      top.lease,
      top.layer,
      merged,
    );
  }

  /** Whether the two are merged from the same entries holding the same bytes. */
  override sameBytesAs(other: ConfigEntry): boolean {
    if (other === this) return true;
    if (!(other instanceof MergedEntry) || other.parts.length !== this.parts.length) return false;
    return this.parts.every((part, i) => part.sameBytesAs(other.parts[i]!));
  }
}

/**
 * The entry of a new revision of a config key (the store's informer transform): `held` is the
 * key's entry before it. The same bytes again keep what they decoded to (a rejection is then not
 * reported twice); a value over `maxValueBytes` is rejected at once (one warning), without reading
 * the bytes. @internal
 */
export function nextEntry(
  entry: InformerEntry,
  held: ConfigEntry | undefined,
  layer: RankedLayer,
  decoder: EntryDecoder & { oversize(size: number): string | undefined },
): ConfigEntry {
  // A re-list hands every key again: one whose revision did not move is the entry held.
  if (held?.modRevision === entry.modRevision) return held;
  const bytes = entry.value;
  const same = held?.isDecoded === true && held.holds(bytes);
  const made = new ConfigEntry(
    entry.key,
    bytes.buffer,
    bytes.byteOffset,
    bytes.byteLength,
    entry.modRevision,
    entry.createRevision,
    entry.version,
    entry.lease,
    layer,
    same ? held.decoded : UNDECODED,
    // Kept if this revision turns out to be rejected.
    held?.fallbackFor(),
  );
  if (!same && decoder.oversize(bytes.byteLength) !== undefined) made.decode();
  return made;
}

/** A decoded value compared by identity (`Object.is`: YAML's `.nan` is one value). */
function isScalar(value: unknown): boolean {
  return typeof value !== 'object' || value === null;
}

/** Whether two byte strings are equal. @internal */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(
    Buffer.from(b.buffer, b.byteOffset, b.length),
  );
}
