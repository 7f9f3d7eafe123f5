import { decodeByFormat, decodeText, formatOf } from './config-codec.js';
import {
  PendingRevision,
  RejectedRevision,
  type ConfigEntry,
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

/**
 * Decodes a config entry when something first reads it: UTF-8, then its format (JSON / YAML /
 * JSON-or-string). A value larger than `maxValueBytes` is rejected without being read; a large YAML
 * document is parsed in the {@link YamlWorker} and served (with the previous revision until then)
 * once parsed. No decode holds the event loop for long. @internal
 */
export class ConfigDecoder implements EntryDecoder {
  private yaml: YamlWorker | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly host: DecoderHost,
    /** `config.maxValueBytes`. */
    readonly maxValueBytes: number,
  ) {}

  /** Why a value of `size` bytes is rejected without being read, if it is. */
  oversize(size: number): string | undefined {
    return size > this.maxValueBytes
      ? `value is ${size} bytes, more than config.maxValueBytes (${this.maxValueBytes})`
      : undefined;
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

  /** Settles when every document being parsed off the loop now is parsed. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }

  /** Stops the YAML worker (documents being parsed stay unread). */
  async close(): Promise<void> {
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
      .decode(text, () => this.host.isCurrent(entry))
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

  private reject(entry: ConfigEntry, reason: string, fallback: ConfigEntry | undefined): unknown {
    const rejection = new RejectedRevision(reason, fallback?.accepted);
    this.host.rejected(entry, rejection);
    return rejection;
  }
}
