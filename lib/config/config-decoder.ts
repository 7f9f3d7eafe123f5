import { decodeByFormat, decodeText, formatOf } from './config-codec.js';
import type { DecodeResult } from './config-codec.js';
import {
  ConfigEntry,
  PendingRevision,
  RejectedRevision,
  type EntryDecoder,
} from './config-entry.js';
import { YamlWorker } from './yaml-worker.js';

/**
 * YAML documents larger than this are parsed in the worker thread. js-yaml parses ≈ 45 µs per KiB
 * on the bench machine under load (63 ms for 1.4 MiB), so a document parsed on the event loop blocks
 * it for ≈ 6 ms at most here, far under the 50 ms bound even on a CPU several times slower. JSON
 * (JSON.parse, ≈ 10 ms per MiB) is always parsed on the loop: `config.maxValueBytes` bounds it.
 */
export const YAML_ON_LOOP_BYTES = 128 * 1024;

/** What the decoder tells the store. @internal */
export interface DecoderHost {
  /** A revision was rejected (log it once, count it). */
  rejected(entry: ConfigEntry, rejection: RejectedRevision): void;
  /** Whether `entry` is still its key's newest revision (else its decode is skipped). */
  isCurrent(entry: ConfigEntry): boolean;
  /** A revision decoded off the loop is ready (report the change of its key from `kept`). */
  decodedLater(entry: ConfigEntry, kept: ConfigEntry | undefined): void;
}

/** One revision of a key in etcd's history, as {@link DecoderHost.history} gives it. @internal */
export interface PastRevision {
  /** The text put (`undefined`: a delete). */
  readonly raw: string | undefined;
  readonly revision: number;
  readonly version: number;
  readonly deleted: boolean;
}

/**
 * Decodes a config entry when something first reads it: UTF-8, then its format (JSON / YAML /
 * JSON-or-string). A value larger than `maxValueBytes` is rejected without being read; a large YAML
 * document is parsed in the {@link YamlWorker} and served (with the previous revision until then)
 * once parsed. No decode holds the event loop for long. @internal
 */
export class ConfigDecoder implements EntryDecoder {
  private yaml: YamlWorker | undefined;
  private readonly pending = new Set<Promise<void>>();
  /** Revisions a rejected newer one keeps: parsed though no longer current. */
  private readonly kept = new WeakSet<ConfigEntry>();
  /** Unread revisions being checked in the worker ({@link check}). */
  private readonly checking = new WeakSet<ConfigEntry>();
  private closed = false;

  constructor(
    private readonly host: DecoderHost,
    /** `config.maxValueBytes`. */
    readonly maxValueBytes: number,
    /**
     * The puts and deletes of an etcd key still in etcd's history, newest first (absent: history is
     * never read, a rejected revision with nothing valid before it leaves the key unset).
     */
    private readonly history?: (etcdKey: string) => Promise<readonly PastRevision[]>,
  ) {}

  /** Why a value of `size` bytes is rejected without being read, if it is. */
  oversize(size: number): string | undefined {
    return size > this.maxValueBytes
      ? `value is ${size} bytes, more than config.maxValueBytes (${this.maxValueBytes})`
      : undefined;
  }

  /**
   * Decodes `text` as a value put at `etcdKey` would be (its size against `maxValueBytes`, UTF-8, its
   * format), at once and on the event loop, with no side effect: for validating a value before it
   * is written.
   */
  decodeNow(etcdKey: string, text: string): DecodeResult<unknown> {
    const oversize = this.oversize(Buffer.byteLength(text, 'utf8'));
    return oversize ? { ok: false, reason: oversize } : decodeByFormat(text, formatOf(etcdKey));
  }

  decode(entry: ConfigEntry, fallback: ConfigEntry | undefined): unknown {
    const oversize = this.oversize(entry.size);
    if (oversize) return this.reject(entry, oversize, fallback);
    const text = decodeText(entry.value);
    if (!text.ok) return this.reject(entry, text.reason, fallback);
    const format = formatOf(entry.key);
    if (format === 'yaml' && entry.size > YAML_ON_LOOP_BYTES) {
      return this.decodeOffLoop(entry, text.value, fallback);
    }
    const result = decodeByFormat(text.value, format);
    return result.ok ? result.value : this.reject(entry, result.reason, fallback);
  }

  /**
   * For the status and the snapshot file, which report every key: a revision nothing read yet is
   * made known without keeping a value nobody asked for where decoding it costs (a large YAML
   * document is checked in the worker and not handed back: {@link ConfigEntry.reported} is the
   * revision before it until then); any other is decoded, as a read would (bounded by
   * `maxValueBytes` and {@link YAML_ON_LOOP_BYTES}).
   */
  check(entry: ConfigEntry): void {
    if (!entry.isUnchecked || this.checking.has(entry)) return;
    if (formatOf(entry.key) !== 'yaml' || entry.size <= YAML_ON_LOOP_BYTES) return entry.decode();
    if (this.oversize(entry.size)) return entry.decode();
    const text = decodeText(entry.value);
    if (!text.ok) return entry.decode();
    this.yaml ??= new YamlWorker();
    this.checking.add(entry);
    const wanted = () => entry.isUnchecked && this.host.isCurrent(entry);
    const done: Promise<void> = this.yaml
      .decode(text.value, wanted, false)
      .then(result => {
        if (!result || !entry.isUnchecked || this.closed) return;
        if (result.ok) entry.checkedValid();
        else entry.checkedInvalid(fallback => this.reject(entry, result.reason, fallback));
        this.host.decodedLater(entry, undefined);
      })
      .catch(() => undefined) // the host logs what goes wrong
      .finally(() => {
        this.checking.delete(entry);
        this.pending.delete(done);
      });
    this.pending.add(done);
  }

  /** Settles when every document being parsed off the loop now is parsed. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }

  /** Stops the YAML worker (documents being parsed stay unread). */
  async close(): Promise<void> {
    this.closed = true;
    await this.yaml?.close();
  }

  private decodeOffLoop(
    entry: ConfigEntry,
    text: string,
    fallback: ConfigEntry | undefined,
  ): unknown {
    this.yaml ??= new YamlWorker();
    // Served until the document is parsed.
    const kept = fallback?.accepted;
    const done: Promise<void> = this.yaml
      .decode(text, () => this.kept.has(entry) || this.host.isCurrent(entry))
      .then(result => {
        this.pending.delete(done);
        // Skipped (a newer revision arrived first, or the service stopped): stays pending, unread.
        if (!result) return;
        entry.settle(result.ok ? result.value : this.reject(entry, result.reason, kept));
        this.host.decodedLater(entry, kept);
      })
      .catch(() => undefined); // the host logs what goes wrong
    this.pending.add(done);
    return new PendingRevision(kept, done);
  }

  /**
   * Rejects `entry`, keeping what `fallback` serves. When nothing is kept although the key had
   * revisions before this one in its generation (`version > 1`: an unread key holds at most three
   * revisions, so rejected revisions in a row of a key nobody read drop its last good one, or the
   * app saw the key first at a later revision), the newest valid revision is looked up in etcd's
   * history, off the loop, as the boot path does ({@link lookBack}).
   */
  private reject(entry: ConfigEntry, reason: string, fallback: ConfigEntry | undefined): unknown {
    // Parsed even though a newer revision exists: it is served instead of this one.
    if (fallback && !fallback.isDecoded) this.kept.add(fallback);
    const kept = fallback?.accepted;
    const before = fallback?.decoded;
    if (kept === undefined && before instanceof PendingRevision) {
      // The revision before is still being decided (its own look-back, or the worker): keep what
      // it comes to.
      return this.later(entry, undefined, async () => {
        await before.done;
        const settled = fallback!.decoded;
        const note = settled instanceof RejectedRevision ? settled.note : undefined;
        return this.rejectNow(entry, reason, fallback!.accepted, note);
      });
    }
    if (kept === undefined && fallback === undefined && entry.version > 1 && this.history) {
      return this.later(entry, undefined, () => this.lookBack(entry, reason));
    }
    return this.rejectNow(entry, reason, kept);
  }

  private rejectNow(
    entry: ConfigEntry,
    reason: string,
    kept: ConfigEntry | undefined,
    note?: string,
  ): RejectedRevision {
    const rejection = new RejectedRevision(reason, kept, note);
    this.host.rejected(entry, rejection);
    return rejection;
  }

  /** A decision taken off the loop: `kept` is served until `decide` settles the entry. */
  private later(
    entry: ConfigEntry,
    kept: ConfigEntry | undefined,
    decide: () => Promise<unknown>,
  ): PendingRevision {
    const done: Promise<void> = decide()
      .then(state => {
        if (this.closed) return;
        entry.settle(state);
        this.host.decodedLater(entry, kept);
      })
      .catch(() => undefined) // the host logs what goes wrong
      .finally(() => this.pending.delete(done));
    this.pending.add(done);
    return new PendingRevision(kept, done);
  }

  /**
   * The rejection of `entry` keeping the newest revision before it, since the key was last created,
   * that decodes (etcd's history; a large YAML document is parsed in the worker). None (never valid,
   * or compacted away): the key stays unset, and the warning says why.
   */
  private async lookBack(entry: ConfigEntry, reason: string): Promise<RejectedRevision> {
    let past: readonly PastRevision[];
    try {
      past = await this.history!(entry.key);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return this.rejectNow(
        entry,
        reason,
        undefined,
        `its history could not be read for a valid revision (${why})`,
      );
    }
    const format = formatOf(entry.key);
    for (const revision of past) {
      if (this.closed) break;
      if (revision.revision >= entry.modRevision) continue;
      if (revision.deleted || revision.raw === undefined) break; // a delete is a decision too
      const decoded = await this.decodeLater(revision.raw, format);
      if (decoded?.ok) {
        const bytes = Buffer.from(revision.raw, 'utf8');
        const kept = new ConfigEntry(
          entry.key,
          bytes.buffer,
          bytes.byteOffset,
          bytes.byteLength,
          revision.revision,
          entry.createRevision,
          revision.version,
          entry.lease,
          entry.layer,
          decoded.value,
        );
        return this.rejectNow(entry, reason, kept, "the newest valid one in etcd's history");
      }
      if (revision.version <= 1) break;
    }
    const oldest = past.at(-1)?.revision;
    return this.rejectNow(
      entry,
      reason,
      undefined,
      `no valid revision of it in etcd's history` +
        (oldest === undefined ? '' : ` (from revision ${oldest}; older ones compacted)`),
    );
  }

  /** A text decoded by `format` without holding the loop (a large YAML document in the worker). */
  private async decodeLater(
    text: string,
    format: ReturnType<typeof formatOf>,
  ): Promise<DecodeResult<unknown> | undefined> {
    const size = Buffer.byteLength(text, 'utf8');
    if (this.oversize(size)) return undefined;
    if (format === 'yaml' && size > YAML_ON_LOOP_BYTES) {
      this.yaml ??= new YamlWorker();
      return this.yaml.decode(text, () => true);
    }
    return decodeByFormat(text, format);
  }
}
