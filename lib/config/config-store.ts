import type { Logger } from '@nestjs/common';
import type { ConfigRejection } from './config-value.interface.js';
import { decodeByFormat, decodeText, formatOf } from './config-codec.js';

const utf8 = new TextDecoder('utf-8');

/**
 * One etcd key as the config store holds it: decoded once per revision, held once. The bytes are the
 * informer's own (not a copy); the text is decoded from them on demand, so each value sits on the heap
 * once, as its decoded value.
 * @internal
 */
export class StoredEntry {
  constructor(
    /** The etcd key (inside the namespace), e.g. `/config/@canary/greeting`. */
    readonly etcdKey: string,
    /** The config key it supplies, relative to its layer (e.g. `greeting`). */
    readonly key: string,
    /** Precedence of its layer: the highest rank holding a key supplies its effective value. */
    readonly rank: number,
    /** The source prefix (a shared prefix or the app's prefix) whose watch delivers it. */
    readonly source: string,
    /** The bytes stored in etcd (valid UTF-8). */
    readonly raw: Uint8Array,
    /** The text decoded by the key's format (JSON / YAML / JSON-or-string). */
    readonly value: unknown,
    /** The etcd revision of its last change. */
    readonly revision: number,
  ) {}

  /** The UTF-8 text stored in etcd. */
  get text(): string {
    // A plain ASCII word under the default rule decoded as itself (a JSON string is shorter than
    // its quoted text): no second copy.
    return typeof this.value === 'string' &&
      this.value.length === this.raw.length &&
      formatOf(this.key) === 'auto'
      ? this.value
      : utf8.decode(this.raw);
  }
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
  readonly previous: StoredEntry | undefined;
  readonly next: StoredEntry | undefined;
  readonly revision: number;
}

interface Layer {
  /** `<prefix>` or `<prefix>@<profile>/`. */
  readonly base: string;
  readonly source: string;
  readonly rank: number;
}

/**
 * The config center's one store: every etcd key of every layer (shared prefixes, the app's prefix,
 * and the `@<profile>/` overlays of each), decoded once per revision. Effective values are derived
 * (the highest layer holding a key wins); changes are reported in batches, one per etcd revision,
 * so a transaction that changes three keys is reported once.
 * @internal
 */
export class ConfigStore {
  private readonly entries = new Map<string, StoredEntry>();
  /** Layers, highest rank first. */
  private readonly layers: Layer[];
  private batch: { revision: number; previous: Map<string, StoredEntry | undefined> } | undefined;
  private grouping = false;
  private flushQueued = false;

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
    const layers: Layer[] = [];
    let rank = 0;
    for (const source of sources) layers.push({ base: source, source, rank: rank++ });
    for (const profile of profiles) {
      for (const source of sources) {
        layers.push({ base: `${source}@${profile}/`, source, rank: rank++ });
      }
    }
    this.layers = layers.reverse();
  }

  /** Number of etcd keys held (all layers). */
  get size(): number {
    return this.entries.size;
  }

  /** The layer of an etcd key delivered by the watch on `source`, or undefined when it is not config. */
  classify(etcdKey: string, source: string): { key: string; rank: number } | undefined {
    if (!etcdKey.startsWith(source)) return undefined;
    // A shared prefix nested below another source belongs to its own watch only.
    for (const other of this.sources) {
      if (other !== source && other.length > source.length && etcdKey.startsWith(other)) {
        return undefined;
      }
    }
    for (const layer of this.layers) {
      if (layer.source === source && etcdKey.startsWith(layer.base)) {
        const key = etcdKey.slice(layer.base.length);
        if (layer.base === source && key.startsWith('@')) return undefined; // inactive profile
        return key.length > 0 ? { key, rank: layer.rank } : undefined;
      }
    }
    return undefined;
  }

  /** The entry that supplies a key's effective value. */
  effective(key: string): StoredEntry | undefined {
    for (const layer of this.layers) {
      const entry = this.entries.get(layer.base + key);
      if (entry) return entry;
    }
    return undefined;
  }

  /** Every key's effective entry, sorted by key. */
  effectiveEntries(under = ''): StoredEntry[] {
    const best = new Map<string, StoredEntry>();
    for (const entry of this.entries.values()) {
      if (!entry.key.startsWith(under)) continue;
      const held = best.get(entry.key);
      if (!held || held.rank < entry.rank) best.set(entry.key, entry);
    }
    return [...best.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Every entry held (all layers), for the snapshot file. */
  allEntries(): IterableIterator<StoredEntry> {
    return this.entries.values();
  }

  /** Seeds the store from a snapshot (no changes are reported). */
  seed(source: string, values: Record<string, string>, revision: number): void {
    for (const [relative, text] of Object.entries(values)) {
      const etcdKey = source + relative;
      const layer = this.classify(etcdKey, source);
      if (!layer) continue;
      const decoded = decodeByFormat(text, formatOf(layer.key));
      if (!decoded.ok) continue;
      this.entries.set(
        etcdKey,
        new StoredEntry(
          etcdKey,
          layer.key,
          layer.rank,
          source,
          Buffer.from(text, 'utf8'),
          decoded.value,
          revision,
        ),
      );
    }
  }

  /**
   * Applies one put (raw bytes) or delete (`undefined`) of an etcd key delivered by the watch on
   * `source`. A value that is not valid UTF-8, or not a valid document for its format, is rejected
   * with one warning line and the key keeps its last good value.
   */
  apply(etcdKey: string, source: string, raw: Uint8Array | undefined, revision: number): void {
    const layer = this.classify(etcdKey, source);
    if (!layer) return;
    const held = this.entries.get(etcdKey);
    if (raw === undefined) {
      if (!held) return;
      this.track(layer.key, revision);
      this.entries.delete(etcdKey);
      return;
    }
    if (held && sameBytes(held.raw, raw)) return;
    const text = decodeText(raw);
    const decoded = text.ok ? decodeByFormat(text.value, formatOf(layer.key)) : text;
    if (!text.ok || !decoded.ok) {
      const reason = decoded.ok ? '' : decoded.reason;
      this.onReject({ key: layer.key, revision, reason });
      this.logger.warn(
        `config "${layer.key}" (${etcdKey}) at revision ${revision} rejected: ${reason}; ` +
          (held ? `keeping the value of revision ${held.revision}` : 'the key stays unset'),
      );
      return;
    }
    this.track(layer.key, revision);
    this.entries.set(
      etcdKey,
      new StoredEntry(etcdKey, layer.key, layer.rank, source, raw, decoded.value, revision),
    );
  }

  /**
   * Replaces everything held for `source` with a full listing (first sync, or resync after booting
   * from a snapshot), reported as one batch.
   */
  reconcile(
    source: string,
    listing: Iterable<{ key: string; value: Uint8Array; modRevision: number }>,
    revision: number,
  ): void {
    this.flush();
    this.grouping = true;
    try {
      const seen = new Set<string>();
      for (const item of listing) {
        seen.add(item.key);
        this.apply(item.key, source, item.value, item.modRevision);
      }
      for (const entry of [...this.entries.values()]) {
        if (entry.source === source && !seen.has(entry.etcdKey)) {
          this.apply(entry.etcdKey, source, undefined, revision);
        }
      }
    } finally {
      this.grouping = false;
    }
    if (this.batch) this.batch.revision = Math.max(this.batch.revision, revision);
    this.flush();
  }

  /** Reports the pending batch now. */
  flush(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = undefined;
    const changes: StoreChange[] = [];
    for (const [key, previous] of batch.previous) {
      const next = this.effective(key);
      if (previous === next) continue;
      if (previous && next && sameBytes(previous.raw, next.raw)) continue;
      changes.push({ key, previous, next, revision: batch.revision });
    }
    if (changes.length > 0) this.onBatch(changes, batch.revision);
  }

  private track(key: string, revision: number): void {
    if (this.batch && !this.grouping && this.batch.revision !== revision) this.flush();
    if (!this.batch) {
      this.batch = { revision, previous: new Map() };
      if (!this.grouping && !this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => {
          this.flushQueued = false;
          if (!this.grouping) this.flush();
        });
      }
    }
    if (this.grouping) this.batch.revision = Math.max(this.batch.revision, revision);
    if (!this.batch.previous.has(key)) this.batch.previous.set(key, this.effective(key));
  }
}

/**
 * Assembles effective entries below a folder key (`db/`) into one nested object: `db/pool/max`
 * becomes `{ pool: { max } }`. A deeper key wins over a leaf of the same name.
 * @internal
 */
export function assembleFolder(
  folder: string,
  entries: readonly StoredEntry[],
): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  // Objects built here (never the decoded values themselves, which are shared and must not change).
  const built = new Set<object>([root]);
  for (const entry of entries) {
    const path = entry.key
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
    node[leaf] = entry.value;
  }
  return root;
}
