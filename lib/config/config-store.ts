import type { Logger } from '@nestjs/common';
import type {
  InformerChange,
  InformerEntry,
  InformerEntryTransform,
} from '../watch/informer.interfaces.js';
import type { ConfigRejection } from './config-value.interface.js';
import { formatOf } from './config-codec.js';
import { ConfigDecoder, type DecoderHost, type PastRevision } from './config-decoder.js';
import {
  ConfigEntry,
  MergedEntry,
  nextEntry,
  type RejectedRevision,
  type RankedLayer,
} from './config-entry.js';
import { Batch, type StoreChange } from './config-batch.js';
import {
  bestEntries,
  reportedEntries,
  servedEntries,
  type ReportedEntries,
} from './config-reported.js';
import { configLayers, layerIn, mergeDocuments, type ConfigLayer } from './config-layers.js';

export { ConfigEntry, RejectedRevision, sameBytes, type RankedLayer } from './config-entry.js';
export { assembleFolder } from './config-folder.js';
export type { StoreChange } from './config-batch.js';

/** A layer as the store holds it: with the state of its source. */
interface StoreLayer extends RankedLayer {
  readonly state: SourceState;
}

/** How the store decodes and who reads it. @internal */
export interface ConfigStoreOptions {
  /** Values larger than this are rejected without being decoded (`config.maxValueBytes`). */
  maxValueBytes?: number;
  /**
   * Whether something reads a config key as it changes (a ConfigValue, a watch, a folder, a
   * `changes$` listener): only those keys are decoded when a change arrives; the others when read.
   * Default: every key.
   */
  isRead?: (key: string) => boolean;
  /** A revision decoded off the event loop was applied (e.g. to save the snapshot file). */
  onDecoded?: () => void;
  /**
   * The history of an etcd key, newest first: a rejected revision with nothing valid kept before it
   * serves the newest valid revision in it. Absent: such a key stays unset.
   */
  history?: (etcdKey: string) => Promise<readonly PastRevision[]>;
}

/** The default of `config.maxValueBytes`: 1 MiB. */
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;

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
export class ConfigStore implements DecoderHost {
  /** Decodes entries when they are first read. */
  readonly decoder: ConfigDecoder;
  private readonly isRead: (key: string) => boolean;
  private readonly onDecoded: () => void;
  /** Layers, highest rank first. */
  private readonly layers: StoreLayer[];
  private readonly states = new Map<string, SourceState>();
  /** The etcd key of a config key in each layer (same order as `layers`), for keys read lately. */
  private readonly etcdKeys = new Map<string, string[]>();
  /** The merged documents served lately, by config key. */
  private readonly merged = new Map<string, MergedEntry>();
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
    options: ConfigStoreOptions = {},
  ) {
    this.decoder = new ConfigDecoder(
      this,
      options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES,
      options.history,
    );
    this.isRead = options.isRead ?? (() => true);
    this.onDecoded = options.onDecoded ?? (() => undefined);
    for (const source of sources) this.states.set(source, { view: undefined, seeded: undefined });
    const layout = { shared: sources.slice(0, -1), prefix: sources[sources.length - 1]!, profiles };
    const decoder = this.decoder;
    this.layers = configLayers(layout)
      .map((layer, rank) => ({ ...layer, rank, decoder, state: this.states.get(layer.source)! }))
      .reverse();
  }

  /** The layer of an etcd key delivered by the watch on `source`, or undefined when it is not config. */
  layerOf(etcdKey: string, source: string): RankedLayer | undefined {
    return layerIn(etcdKey, source, this.layers, this.sources);
  }

  /**
   * The informer transform of `source`: makes each config key's revision a {@link ConfigEntry},
   * decoded when something first reads it (the same bytes again keep what they decoded to; a value
   * over `maxValueBytes` is rejected at once, with one warning); other keys pass through.
   */
  transformFor(source: string): InformerEntryTransform {
    return (entry, previous) => {
      const layer = this.layerOf(entry.key, source);
      if (!layer) return entry;
      const held =
        previous instanceof ConfigEntry && previous.layer === layer ? previous : undefined;
      return nextEntry(entry, held, layer, this.decoder);
    };
  }

  /**
   * The entry that supplies a key's effective value: the highest layer's; for a document under an
   * active profile, the overlays merged into the document below them (a {@link MergedEntry}).
   */
  effective(key: string): ConfigEntry | undefined {
    const etcdKeys = this.etcdKeysOf(key);
    for (let i = 0; i < this.layers.length; i++) {
      const entry = this.lookup(this.layers[i]!, etcdKeys[i]!);
      if (entry) {
        return entry.layer.profile === undefined
          ? entry
          : this.overlaid(key, i, entry, j => this.lookup(this.layers[j]!, etcdKeys[j]!));
      }
    }
    return undefined;
  }

  /**
   * `top`, found in layer `i` (a profile overlay): itself, or for a document (`*.json`, `*.yaml`) the
   * overlays below it down to the first layer without a profile, merged ({@link mergeDocuments});
   * the same {@link MergedEntry} while its parts do not change.
   */
  private overlaid(
    key: string,
    i: number,
    top: ConfigEntry,
    at: (layer: number) => ConfigEntry | undefined,
  ): ConfigEntry {
    if (formatOf(key) === 'auto') return top;
    const parts = [top];
    for (let j = i + 1; j < this.layers.length; j++) {
      const entry = at(j);
      if (!entry) continue;
      parts.push(entry);
      if (this.layers[j]!.profile === undefined) break;
    }
    if (parts.length === 1) return top;
    const cached = this.merged.get(key);
    if (
      cached?.parts.length === parts.length &&
      cached.parts.every((part, n) => part === parts[n])
    ) {
      return cached;
    }
    let value = parts[parts.length - 1]!.decoded;
    for (let n = parts.length - 2; n >= 0; n--) value = mergeDocuments(value, parts[n]!.decoded);
    const merged = new MergedEntry(parts, value);
    if (this.merged.size >= 1024) this.merged.clear();
    this.merged.set(key, merged);
    return merged;
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

  /** Every key's entry as the status reports it ({@link reportedEntries}). */
  reportedEntries(): ReportedEntries {
    return reportedEntries(this);
  }

  /** Every entry served, for the snapshot file, as the status sees them ({@link servedEntries}). */
  allEntries(): ConfigEntry[] {
    return servedEntries(this);
  }

  /** Every key's effective entry, sorted by key. */
  effectiveEntries(under = ''): ConfigEntry[] {
    const best = bestEntries(this.held(), held => held.accepted, under);
    return [...best.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, entry]) =>
        entry.layer.profile === undefined ? entry : (this.effective(key) ?? entry),
      );
  }

  /** Every entry the informers (or the snapshot's seed) hold. */
  *held(): Generator<ConfigEntry> {
    for (const state of this.states.values()) {
      const entries = state.view ? state.view.current().entries : state.seeded?.values();
      if (!entries) continue;
      for (const held of entries) if (held instanceof ConfigEntry) yield held;
    }
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

  /**
   * A revision decoded off the event loop is ready: if it is still the key's newest and the key is
   * read, its change is reported now (the revision kept was served meanwhile).
   */
  decodedLater(entry: ConfigEntry, kept: ConfigEntry | undefined): void {
    if (this.isCurrent(entry) && this.isRead(entry.configKey)) {
      this.flush();
      this.track(entry, entry.modRevision, kept ?? null);
      this.flush();
    }
    this.onDecoded();
  }

  /** Whether the informer's map (or the snapshot's) still holds `entry` for its key. */
  isCurrent(entry: ConfigEntry): boolean {
    const state = (entry.layer as StoreLayer).state;
    return (state.view ? state.view.get(entry.key) : state.seeded?.get(entry.key)) === entry;
  }

  /** Settles when every revision being decoded off the event loop is decoded. */
  idle(): Promise<void> {
    return this.decoder.idle();
  }

  /** Stops decoding off the event loop. */
  close(): Promise<void> {
    return this.decoder.close();
  }

  /** One warning per rejected revision, and the rejection reported. */
  rejected(entry: ConfigEntry, rejection: RejectedRevision): void {
    const key = entry.configKey;
    this.onReject({ key, revision: entry.modRevision, reason: rejection.reason });
    this.logger.warn(
      `config "${key}" (${entry.key}) at revision ${entry.modRevision} rejected: ${rejection.reason}; ` +
        (rejection.kept
          ? `keeping the value of revision ${rejection.kept.modRevision}`
          : 'the key stays unset') +
        (rejection.note ? `, ${rejection.note}` : ''),
    );
  }

  /**
   * Records the effective value of `entry`'s config key before a change, once per batch.
   * @param replaced For a change the informer already applied: what `entry.key` held before it
   *   (`null`: nothing). Omitted: nothing was applied yet.
   */
  private track(entry: ConfigEntry, revision: number, replaced?: ConfigEntry | null): void {
    const key = entry.configKey;
    // A key nothing reads as it changes is decoded when read, never here.
    if (!this.isRead(key)) return;
    if (this.batch && !this.grouping && this.batch.revision !== revision) this.flush();
    this.batch ??= new Batch(revision);
    if (this.grouping) this.batch.revision = Math.max(this.batch.revision, revision);
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
    // What the replaced revision served (never decoded here: a revision nothing read stays so).
    const at = (i: number): ConfigEntry | undefined => {
      const layer = this.layers[i]!;
      if (layer !== own) return this.lookup(layer, etcdKeys![i]!);
      return replaced?.layer === layer ? replaced.served : undefined;
    };
    for (let i = 0; i < this.layers.length; i++) {
      const entry = at(i);
      if (entry) {
        return entry.layer.profile === undefined ? entry : this.overlaid(key, i, entry, at);
      }
    }
    return undefined;
  }
}
