import { Logger } from '@nestjs/common';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** What the last-known-good file holds. @internal */
export interface ConfigSnapshotData {
  format: 'nest-etcd-config-snapshot';
  version: 1;
  /** Namespace + prefix the values were read from: a file from another app is never used. */
  source: string;
  revision: number;
  savedAt: string;
  /**
   * Values the app accepted (UTF-8 text) by etcd key relative to the prefix; profile overlays keep
   * their `@<profile>/` part.
   */
  values: Record<string, string>;
  /** Values of the shared prefixes (`config.shared`), by prefix then relative key. */
  shared?: Record<string, Record<string, string>>;
}

/**
 * The last-known-good copy of the config: written atomically (temp file + rename), debounced, and read
 * at boot when etcd is unreachable.
 * @internal
 */
export class ConfigSnapshotStore {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private pending: (() => ConfigSnapshotData) | undefined;
  private readonly logger = new Logger('EtcdConfig');

  constructor(
    readonly file: string,
    private readonly source: string,
    private readonly debounceMs: number,
  ) {}

  /** Reads and validates the file; `undefined` (with one warning) when it is missing or corrupt. */
  static read(file: string, source: string): ConfigSnapshotData | undefined {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        new Logger('EtcdConfig').warn(
          `config snapshot ${file} unreadable (${(err as Error).message}); ignoring it`,
        );
      }
      return undefined;
    }
    const problem = (reason: string): undefined => {
      new Logger('EtcdConfig').warn(`config snapshot ${file} ignored: ${reason}`);
      return undefined;
    };
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      return problem('not valid JSON (corrupt or truncated)');
    }
    if (!data || typeof data !== 'object') return problem('not a snapshot object');
    const snap = data as Partial<ConfigSnapshotData>;
    if (snap.format !== 'nest-etcd-config-snapshot' || snap.version !== 1)
      return problem('unknown format');
    if (snap.source !== source)
      return problem(`it holds "${String(snap.source)}", this app reads "${source}"`);
    if (typeof snap.revision !== 'number' || typeof snap.savedAt !== 'string')
      return problem('missing revision or time');
    if (!snap.values || typeof snap.values !== 'object') return problem('missing values');
    for (const [key, value] of Object.entries(snap.values)) {
      if (typeof value !== 'string') return problem(`value of "${key}" is not a string`);
    }
    if (snap.shared !== undefined) {
      if (!snap.shared || typeof snap.shared !== 'object')
        return problem('malformed shared values');
      for (const [prefix, values] of Object.entries(snap.shared)) {
        if (!values || typeof values !== 'object')
          return problem(`malformed values of "${prefix}"`);
        for (const [key, value] of Object.entries(values)) {
          if (typeof value !== 'string')
            return problem(`value of "${prefix}${key}" is not a string`);
        }
      }
    }
    return snap as ConfigSnapshotData;
  }

  /** Asks for a write `debounceMs` from now (later calls within the window coalesce). */
  schedule(
    build: () => Omit<ConfigSnapshotData, 'format' | 'version' | 'source' | 'savedAt'>,
  ): void {
    this.pending = () => this.complete(build());
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.debounceMs);
    this.timer.unref();
  }

  /** Writes any pending snapshot now. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const build = this.pending;
    this.pending = undefined;
    if (build) {
      const data = build();
      this.writing = this.writing.then(() => this.write(data));
    }
    await this.writing;
  }

  private complete(
    partial: Omit<ConfigSnapshotData, 'format' | 'version' | 'source' | 'savedAt'>,
  ): ConfigSnapshotData {
    return {
      format: 'nest-etcd-config-snapshot',
      version: 1,
      source: this.source,
      savedAt: new Date().toISOString(),
      ...partial,
    };
  }

  private async write(data: ConfigSnapshotData): Promise<void> {
    const temp = `${this.file}.${process.pid}.${Date.now()}.tmp`;
    try {
      await mkdir(dirname(this.file), { recursive: true });
      await writeFile(temp, JSON.stringify(data), { mode: 0o600 });
      await rename(temp, this.file);
    } catch (err) {
      this.logger.warn(`could not write config snapshot ${this.file}: ${(err as Error).message}`);
      await rm(temp, { force: true }).catch(() => undefined);
    }
  }
}
