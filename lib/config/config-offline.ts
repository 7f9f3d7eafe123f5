import type { Logger } from '@nestjs/common';
import { isBrokenCircuitError } from 'cockatiel';
import { describeCause } from '../common/describe-cause.js';
import { setOwn } from '../common/own-property.js';
import type { ConfigEntry, ConfigStore } from './config-store.js';
import { ConfigSnapshotStore, type ConfigSnapshotData } from './config-snapshot.js';

/** What the offline keeper needs of the config options. @internal */
export interface OfflineOptions {
  readonly prefix: string;
  readonly shared: readonly string[];
  readonly snapshotFile?: string;
  readonly snapshotDebounce: number;
}

/**
 * The config center's last-known-good copy: writes the snapshot file as the app accepts values,
 * and boots from it when etcd is unreachable (serving its revision until every watch synced).
 * @internal
 */
export class ConfigOfflineKeeper {
  private readonly snapshotStore: ConfigSnapshotStore | undefined;
  /** Revision of the snapshot booted from, until every watch has synced. */
  private offline: { revision: number; file: string } | undefined;

  /**
   * @param source Namespace + prefix: a file written by another app is never used.
   * @param acceptedText The text the app accepted for an entry (`undefined`: leave the key out).
   */
  constructor(
    private readonly options: OfflineOptions,
    private readonly source: string,
    private readonly store: ConfigStore,
    private readonly logger: Logger,
    private readonly acceptedText: (entry: ConfigEntry) => string | undefined,
  ) {
    if (options.snapshotFile) {
      this.snapshotStore = new ConfigSnapshotStore(
        options.snapshotFile,
        source,
        options.snapshotDebounce,
      );
    }
  }

  /** The snapshot's revision while the app serves it (etcd not synced yet), else `undefined`. */
  get offlineRevision(): number | undefined {
    return this.offline?.revision;
  }

  /** The snapshot file, validated; `undefined` when there is none (or it is unusable). */
  read(): ConfigSnapshotData | undefined {
    return this.options.snapshotFile
      ? ConfigSnapshotStore.read(this.options.snapshotFile, this.source)
      : undefined;
  }

  /**
   * Serves the snapshot until the watches sync, with one warning saying why and what.
   * @param why The boot error, or the first unsynced informer's last error.
   */
  boot(
    snapshot: ConfigSnapshotData,
    why: unknown,
    hosts: readonly string[],
    connectTimeout: number,
  ): void {
    const { store, options } = this;
    store.seed(options.prefix, snapshot.values, snapshot.revision);
    for (const [prefix, values] of Object.entries(snapshot.shared ?? {})) {
      if (options.shared.includes(prefix)) store.seed(prefix, values, snapshot.revision);
    }
    this.offline = { revision: snapshot.revision, file: this.snapshotStore?.file ?? '' };
    const detail = why === undefined || isBrokenCircuitError(why) ? '' : ` (${describeCause(why)})`;
    this.logger.warn(
      `etcd unreachable at boot: ${hosts.join(', ')} did not answer within ` +
        `${connectTimeout} ms${detail}; serving ${store.effectiveEntries().length} ` +
        `config key(s) from snapshot ${this.offline.file} (revision ${snapshot.revision}, ` +
        `saved ${snapshot.savedAt}); will catch up when etcd answers`,
    );
  }

  /** Every watch has synced: the app serves etcd's values again (one line when it was offline). */
  caughtUp(revision: number): void {
    const before = this.offline;
    if (!before) return;
    this.offline = undefined;
    this.logger.log(
      `config caught up with etcd at revision ${revision} ` +
        `(snapshot ${before.file} was at revision ${before.revision})`,
    );
  }

  /**
   * Schedules a write of the last-known-good file: what the app accepted. A value a ConfigValue
   * rejected is written as the value it kept (or left out while it serves its default), so an
   * instance booting from the file starts with values it accepts. Nothing while offline.
   */
  save(revision: () => number): void {
    if (!this.snapshotStore || this.offline) return;
    const { options, store } = this;
    this.snapshotStore.schedule(() => {
      const values: Record<string, string> = {};
      const shared: Record<string, Record<string, string>> = {};
      for (const entry of store.allEntries()) {
        const text = this.acceptedText(entry);
        if (text === undefined) continue;
        const relative = entry.key.slice(entry.source.length);
        // `setOwn`: a key named `__proto__` is written like any other.
        if (entry.source === options.prefix) setOwn(values, relative, text);
        else setOwn((shared[entry.source] ??= {}), relative, text);
      }
      return {
        revision: revision(),
        values,
        ...(options.shared.length > 0 ? { shared } : {}),
      };
    });
  }

  /** Writes any pending snapshot now. */
  async flush(): Promise<void> {
    await this.snapshotStore?.flush();
  }
}
