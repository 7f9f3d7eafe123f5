import type { Logger } from '@nestjs/common';
import type {
  InformerChange,
  InformerEntry,
  InformerEntryTransform,
} from '../watch/informer.interfaces.js';
import type { ConfigRejection } from './config-value.interface.js';
import { decodeByFormat, decodeText, formatOf } from './config-codec.js';
import { configLayers, layerIn, type ConfigLayer } from './config-layers.js';

const utf8 = new TextDecoder('utf-8');

/** A layer with its precedence: the highest rank holding a key supplies its effective value. @internal */
export interface RankedLayer extends ConfigLayer {
  readonly rank: number;
}

/** A layer as the store holds it: with the state of its source. */
interface StoreLayer extends RankedLayer {
  readonly state: SourceState;
}

/**
 * A revision of a key that could not be decoded (not UTF-8, or not a valid document for its format),
 * and the entry served instead: the last good revision, if there was one. @internal
 */
export class RejectedRevision {
  constructor(
    readonly reason: string,
    readonly kept: ConfigEntry | undefined,
  ) {}
}

/**
 * One etcd key of a config layer. It is at once the informer's entry and the store's: the informer
 * keeps it in its map (decoded by {@link ConfigStore.transformFor} as it arrives), and the store reads
 * that map, so each key costs one map slot and one object. The bytes are referenced as
 * (buffer, offset, length) rather than held as a `Buffer` view (≈ 96 bytes of heap per key); the
 * text is decoded from them on demand. Decoded once per revision, held once.
 * @internal
 */
export class ConfigEntry implements InformerEntry {
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
    /**
     * The value decoded by the key's format (JSON / YAML / JSON-or-string), or why this revision
     * was rejected and what is kept instead.
     */
    readonly decoded: unknown,
  ) {}

  /** The bytes stored in etcd (a view, made on each call). */
  get value(): Buffer {
    return Buffer.from(this.bytes, this.offset, this.byteLength);
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
    if (other.byteLength !== this.byteLength) return false;
    if (other.bytes === this.bytes && other.offset === this.offset) return true;
    if (isScalar(this.decoded) && !Object.is(this.decoded, other.decoded)) return false;
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

  /** The entry served for this key: itself, or the last good revision when this one was rejected. */
  get accepted(): ConfigEntry | undefined {
    return this.decoded instanceof RejectedRevision ? this.decoded.kept : this;
  }

  /** The UTF-8 text stored in etcd. */
  get text(): string {
    // A plain ASCII word under the default rule decoded as itself (a JSON string is shorter than
    // its quoted text): no second copy.
    const decoded = this.decoded;
    return typeof decoded === 'string' &&
      decoded.length === this.byteLength &&
      formatOf(this.key) === 'auto'
      ? decoded
      : utf8.decode(this.value);
  }
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

/** One change of a key's effective value, as a batch reports it. @internal */
export interface StoreChange {
  readonly key: string;
  readonly previous: ConfigEntry | undefined;
  readonly next: ConfigEntry | undefined;
  readonly revision: number;
}

/**
 * The config keys one revision changed, each with its effective entry before the change, in the
 * order they changed. Most revisions change one key: arrays, with a set of the keys only for a large
 * batch (a re-list's).
 */
class Batch {
  readonly keys: string[] = [];
  readonly before: Array<ConfigEntry | undefined> = [];
  private index: Set<string> | undefined;

  constructor(public revision: number) {}

  has(key: string): boolean {
    if (this.index) return this.index.has(key);
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === key) return true;
    }
    return false;
  }

  add(key: string, before: ConfigEntry | undefined): void {
    this.keys.push(key);
    this.before.push(before);
    if (this.index) this.index.add(key);
    else if (this.keys.length > 16) this.index = new Set(this.keys);
  }
}

/** The informer's map of one source, as the store reads it (a {@link PrefixInformer}). @internal */
export interface ConfigSourceView {
  get(key: string): InformerEntry | undefined;
  current(): { readonly entries: IterableIterator<InformerEntry> };
}

interface SourceState {
  /** The informer, once its first list succeeded. */
  view: ConfigSourceView | undefined;
  /** Entries from a snapshot file, served until the informer's first list. */
  seeded: Map<string, ConfigEntry> | undefined;
}

/**
 * The config center's one store: every etcd key of every layer (shared prefixes, the app's prefix,
 * and the `@<profile>/` overlays of each). It holds no map of its own: each source's informer holds
 * the {@link ConfigEntry} objects that {@link transformFor} decodes as they arrive (once per
 * revision), and the store reads them. Effective values are derived (the highest layer holding a key
 * wins); changes are reported in batches, one per etcd revision, so a transaction that changes three
 * keys is reported once (a batch is reported when a newer revision arrives or on {@link flush}).
 * @internal
 */
export class ConfigStore {
  /** Layers, highest rank first. */
  private readonly layers: StoreLayer[];
  private readonly states = new Map<string, SourceState>();
  /** The etcd key of a config key in each layer (same order as `layers`), for keys read lately. */
  private readonly etcdKeys = new Map<string, string[]>();
  private batch: Batch | undefined;
  private grouping = false;

  /**
   * @param sources Source prefixes, lowest first (shared prefixes, then the app's own prefix).
   * @param profiles Active profiles, lowest first.
   * @param onBatch Receives the effective changes of each revision.
   */
  constructor(
    readonly sources: readonly string[],
    readonly profiles: readonly string[],
    private readonly logger: Logger,
    private readonly onBatch: (changes: StoreChange[], revision: number) => void,
    private readonly onReject: (rejection: ConfigRejection) => void = () => undefined,
  ) {
    for (const source of sources) this.states.set(source, { view: undefined, seeded: undefined });
    const layout = { shared: sources.slice(0, -1), prefix: sources[sources.length - 1]!, profiles };
    this.layers = configLayers(layout)
      .map((layer, rank) => ({ ...layer, rank, state: this.states.get(layer.source)! }))
      .reverse();
  }

  /** The layer of an etcd key delivered by the watch on `source`, or undefined when it is not config. */
  layerOf(etcdKey: string, source: string): RankedLayer | undefined {
    return layerIn(etcdKey, source, this.layers, this.sources);
  }

  /**
   * The informer transform of `source`: decodes each config key once per revision into a
   * {@link ConfigEntry} (an unchanged value keeps its decoded form); other keys pass through.
   */
  transformFor(source: string): InformerEntryTransform {
    return (entry, previous) => {
      const layer = this.layerOf(entry.key, source);
      if (!layer) return entry;
      const held = previous instanceof ConfigEntry ? previous : undefined;
      // A re-list hands every key again: one whose revision did not move is the entry held.
      if (held?.layer === layer && held.modRevision === entry.modRevision) return held;
      const bytes = entry.value;
      const text = decodeText(bytes);
      const result = text.ok
        ? decodeByFormat(text.value, formatOf(entry.key)) // the name ends the key in every layer
        : text;
      // The same bytes again keep what they decoded to (a rejection is then not reported twice).
      // Decoding is a function of the bytes: a new scalar means new bytes, with no need to read them.
      const scalar = result.ok && isScalar(result.value);
      const decoded =
        held?.layer === layer &&
        !(scalar && !Object.is(result.value, held.decoded)) &&
        held.holds(bytes)
          ? held.decoded
          : result.ok
            ? result.value
            : new RejectedRevision(result.reason, held?.accepted);
      return new ConfigEntry(
        entry.key,
        bytes.buffer,
        bytes.byteOffset,
        bytes.byteLength,
        entry.modRevision,
        entry.createRevision,
        entry.version,
        entry.lease,
        layer,
        decoded,
      );
    };
  }

  /** The entry that supplies a key's effective value. */
  effective(key: string): ConfigEntry | undefined {
    const etcdKeys = this.etcdKeysOf(key);
    for (let i = 0; i < this.layers.length; i++) {
      const entry = this.lookup(this.layers[i]!, etcdKeys[i]!);
      if (entry) return entry;
    }
    return undefined;
  }

  /**
   * The etcd keys of `key` in every layer, remembered for the keys read lately (a read then looks up
   * strings whose hash is known, instead of hashing a new concatenation each time).
   */
  private etcdKeysOf(key: string): string[] {
    let keys = this.etcdKeys.get(key);
    if (!keys) {
      if (this.etcdKeys.size >= 1024) this.etcdKeys.clear();
      keys = this.layers.map(layer => layer.prefix + key);
      this.etcdKeys.set(key, keys);
    }
    return keys;
  }

  /** Every key's effective entry, sorted by key. */
  effectiveEntries(under = ''): ConfigEntry[] {
    const best = new Map<string, ConfigEntry>();
    for (const state of this.states.values()) {
      const entries = state.view ? state.view.current().entries : state.seeded?.values();
      if (!entries) continue;
      for (const held of entries) {
        const entry = held instanceof ConfigEntry ? held.accepted : undefined;
        if (!entry || !entry.key.startsWith(under, entry.layer.prefix.length)) continue;
        const key = entry.configKey;
        const kept = best.get(key);
        if (!kept || kept.rank < entry.rank) best.set(key, entry);
      }
    }
    return [...best.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, entry]) => entry);
  }

  /** Every entry served (all layers; the kept revision of a rejected one), for the snapshot file. */
  allEntries(): ConfigEntry[] {
    const all: ConfigEntry[] = [];
    for (const state of this.states.values()) {
      const entries = state.view ? state.view.current().entries : state.seeded?.values();
      if (!entries) continue;
      for (const entry of entries) {
        const served = entry instanceof ConfigEntry ? entry.accepted : undefined;
        if (served) all.push(served);
      }
    }
    return all;
  }

  /** Seeds a source from a snapshot, served until its informer's first list (no changes reported). */
  seed(source: string, values: Record<string, string>, revision: number): void {
    const state = this.states.get(source);
    if (!state || state.view) return;
    const seeded = (state.seeded ??= new Map());
    const decode = this.transformFor(source);
    for (const [relative, text] of Object.entries(values)) {
      const key = source + relative;
      const bytes = Buffer.from(text, 'utf8');
      const entry = decode(
        { key, value: bytes, modRevision: revision, createRevision: 0, version: 0, lease: '0' },
        undefined,
      );
      if (entry instanceof ConfigEntry && entry.accepted) seeded.set(key, entry);
    }
  }

  /**
   * The informer of `source` finished its first list: serve its map from now on (instead of nothing,
   * or the snapshot's values), reporting the difference as one batch.
   */
  synced(source: string, view: ConfigSourceView, revision: number): void {
    const state = this.states.get(source);
    if (!state || state.view) return;
    this.flush();
    this.grouping = true;
    try {
      for (const entry of state.seeded?.values() ?? []) this.track(entry, revision);
      for (const entry of view.current().entries) {
        if (!(entry instanceof ConfigEntry)) continue;
        if (entry.decoded instanceof RejectedRevision) this.rejected(entry, entry.decoded);
        this.track(entry, entry.modRevision);
      }
    } finally {
      this.grouping = false;
    }
    state.view = view;
    state.seeded = undefined;
    if (this.batch) this.batch.revision = Math.max(this.batch.revision, revision);
    this.flush();
  }

  /**
   * One change the informer of a synced source applied (its map already holds it): a rejected
   * revision is reported once, and the effective change joins the batch of its revision. A change
   * of a newer revision reports the pending batch first; the caller {@link flush}es the last one
   * when the informer has settled (the end of a watch response).
   */
  changed(change: InformerChange): void {
    const next = change.entry instanceof ConfigEntry ? change.entry : undefined;
    const previous = change.previous instanceof ConfigEntry ? change.previous : undefined;
    const entry = next ?? previous;
    if (!entry) return;
    if (next?.decoded instanceof RejectedRevision && next.decoded !== previous?.decoded) {
      this.rejected(next, next.decoded);
    }
    this.track(entry, change.revision, previous ?? null);
  }

  /** Reports the pending batch now. */
  flush(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = undefined;
    const changes: StoreChange[] = [];
    const { keys, before } = batch;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const previous = before[i];
      const next = this.effective(key);
      if (previous === next) continue;
      if (previous && next && previous.sameBytesAs(next)) continue;
      changes.push({ key, previous, next, revision: batch.revision });
    }
    if (changes.length > 0) this.onBatch(changes, batch.revision);
  }

  /** The entry served at `etcdKey` for `layer`, if any. */
  private lookup(layer: StoreLayer, etcdKey: string): ConfigEntry | undefined {
    const state = layer.state;
    const entry = state.view ? state.view.get(etcdKey) : state.seeded?.get(etcdKey);
    return entry instanceof ConfigEntry && entry.layer === layer ? entry.accepted : undefined;
  }

  private rejected(entry: ConfigEntry, rejection: RejectedRevision): void {
    const key = entry.configKey;
    this.onReject({ key, revision: entry.modRevision, reason: rejection.reason });
    this.logger.warn(
      `config "${key}" (${entry.key}) at revision ${entry.modRevision} rejected: ${rejection.reason}; ` +
        (rejection.kept
          ? `keeping the value of revision ${rejection.kept.modRevision}`
          : 'the key stays unset'),
    );
  }

  /**
   * Records the effective value of `entry`'s config key before a change, once per batch.
   * @param replaced For a change the informer already applied: what `entry.key` held before it
   *   (`null`: nothing). Omitted: nothing was applied yet.
   */
  private track(entry: ConfigEntry, revision: number, replaced?: ConfigEntry | null): void {
    if (this.batch && !this.grouping && this.batch.revision !== revision) this.flush();
    this.batch ??= new Batch(revision);
    if (this.grouping) this.batch.revision = Math.max(this.batch.revision, revision);
    const key = entry.configKey;
    if (this.batch.has(key)) return;
    this.batch.add(key, this.effectiveBefore(key, entry.layer, replaced));
  }

  /** The effective entry of `key` as it was before its key in `own` changed from `replaced`. */
  private effectiveBefore(
    key: string,
    own: ConfigLayer,
    replaced: ConfigEntry | null | undefined,
  ): ConfigEntry | undefined {
    if (replaced === undefined) return this.effective(key);
    const etcdKeys = this.layers.length > 1 ? this.etcdKeysOf(key) : undefined;
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i]!;
      const entry =
        layer === own
          ? replaced?.layer === layer
            ? replaced.accepted
            : undefined
          : this.lookup(layer, etcdKeys![i]!);
      if (entry) return entry;
    }
    return undefined;
  }
}

/**
 * Assembles effective entries below a folder key (`db/`) into one nested object: `db/pool/max`
 * becomes `{ pool: { max } }`. A deeper key wins over a leaf of the same name.
 * @internal
 */
export function assembleFolder(
  folder: string,
  entries: readonly ConfigEntry[],
): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  // Objects built here (never the decoded values themselves, which are shared and must not change).
  const built = new Set<object>([root]);
  for (const entry of entries) {
    const path = entry.configKey
      .slice(folder.length)
      .split('/')
      .filter(part => part.length > 0);
    if (path.length === 0) continue;
    let node = root;
    for (const part of path.slice(0, -1)) {
      const next = node[part];
      if (typeof next === 'object' && next !== null && built.has(next)) {
        node = next as Record<string, unknown>;
      } else {
        const created: Record<string, unknown> = {};
        built.add(created);
        node[part] = created;
        node = created;
      }
    }
    const leaf = path[path.length - 1]!;
    const existing = node[leaf];
    if (typeof existing === 'object' && existing !== null && built.has(existing)) continue;
    node[leaf] = entry.decoded;
  }
  return root;
}
