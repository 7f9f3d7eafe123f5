import type { Logger } from '@nestjs/common';
import {
  type Observable,
  Subject,
  defer,
  distinctUntilChanged,
  filter,
  finalize,
  map,
  startWith,
} from 'rxjs';
import { type ConfigEntry, type ConfigStore, sameBytes, type StoreChange } from './config-store.js';
import { FolderValue } from './config-folder.js';
import type { ConfigReport } from './config-report.js';
import type {
  ConfigChange,
  ConfigRejection,
  ConfigValueOptions,
} from './config-value.interface.js';
import { EntryValue, sameEffective, type EffectiveValue } from './effective-value.js';
import { LiveConfigValue } from './live-config-value.js';

/**
 * The config center's readers and the fan-out to them: the app's {@link LiveConfigValue}s (one per
 * key), `watch()` streams and `changes$` listeners. Each store batch (one etcd revision) reaches them
 * here; what they read (a key's or a folder's effective value) is assembled here from the store. It
 * also says which keys something reads, so the store decodes only those when a change arrives.
 * @internal
 */
export class ConfigFanout {
  private readonly changesSubject = new Subject<ConfigChange>();
  private readonly batches = new Subject<readonly StoreChange[]>();
  /** The app's ConfigValues, by key. */
  readonly values = new Map<string, LiveConfigValue<unknown>>();
  /** How many of {@link values} are folders (`db/`). */
  private folderValues = 0;
  /** Keys (and folders) with `watch()` subscribers, and how many each. */
  private readonly watched = new Map<string, number>();
  /** How many of {@link watched} are folders. */
  private watchedFolders = 0;
  /** The value last made of each folder ConfigValue, and the store it was read from. */
  private readonly folders = new Map<
    string,
    { readonly store: ConfigStore; readonly folder: FolderValue | undefined }
  >();

  /** Every change of an effective value (see EtcdConfigService.changes$). */
  readonly changes$: Observable<ConfigChange> = this.changesSubject.asObservable();

  constructor(
    private readonly logger: Logger,
    private readonly report: ConfigReport,
    /** The store, once the config center started. */
    private readonly store: () => ConfigStore | undefined,
    /** The etcd key prefix of the app's own keys. */
    private readonly prefix: () => string,
    /** A value refused a revision (reported and streamed by the service). */
    private readonly refuse: (rejection: ConfigRejection) => void,
  ) {}

  /** Current effective value first, then each change of the key (see EtcdConfigService.watch). */
  watch<T>(key: string): Observable<T | undefined> {
    return defer(() => {
      this.watching(key, 1);
      return this.batches.pipe(
        filter(changes => changes.some(change => touches(key, change.key))),
        map(() => this.effectiveOf(key)),
        startWith(this.effectiveOf(key)),
        finalize(() => this.watching(key, -1)),
      );
    }).pipe(
      distinctUntilChanged(sameEffective),
      map(effective => effective?.value as T | undefined),
    );
  }

  /** The one ConfigValue of a key, made on first use. */
  liveValue(key: string, options: ConfigValueOptions<unknown>): LiveConfigValue<unknown> {
    const existing = this.values.get(key);
    if (existing) {
      if (!sameOptions(existing.options, options)) {
        this.logger.warn(
          `config key "${key}" is injected with different options in several places; the first ones are used`,
        );
      }
      return existing;
    }
    const value = new LiveConfigValue<unknown>(key, options, this.logger, this.refuse);
    value.apply(this.effectiveOf(key));
    this.values.set(key, value);
    this.report.touched();
    if (key.endsWith('/')) this.folderValues++;
    return value;
  }

  /**
   * Whether something reads `key` as it changes: a `changes$` listener, its ConfigValue or `watch()`,
   * or a folder's. Only those keys are decoded when a change arrives; the others when read.
   */
  isRead(key: string): boolean {
    if (this.changesSubject.observed || this.values.has(key) || this.watched.has(key)) return true;
    if (this.folderValues === 0 && this.watchedFolders === 0) return false;
    for (const folder of [...this.values.keys(), ...this.watched.keys()]) {
      if (folder.endsWith('/') && key.startsWith(folder)) return true;
    }
    return false;
  }

  /** Effective value of a key or folder, without its text (the read path of get()). */
  valueOf(key: string): { value: unknown } | undefined {
    if (key.endsWith('/')) return this.effectiveOf(key);
    const entry = this.store()?.effective(key);
    return entry && { value: entry.decoded };
  }

  /** Effective value of a key or folder, with the text that identifies it. */
  effectiveOf(key: string): EffectiveValue | undefined {
    const store = this.store();
    if (!store) return undefined;
    if (!key.endsWith('/')) {
      const entry = store.effective(key);
      return entry && new EntryValue(entry);
    }
    const folder = FolderValue.of(key, store.effectiveEntries(key), `${this.prefix()}${key}`);
    // The base the next change of a folder ConfigValue starts from (see publish).
    if (this.values.has(key)) this.folders.set(key, { store, folder });
    return folder;
  }

  /** Fans one batch (one etcd revision) out to `changes$`, config values and watchers. */
  publish(changes: StoreChange[], revision: number): void {
    // Injected values first (what the app reads), then the change stream. A ConfigChange is made
    // only for someone who listens.
    const streamed = this.changesSubject.observed ? changes.map(toConfigChange) : undefined;
    const report = this.report;
    // The status writer only marks the change; its write runs later, off this turn.
    report.touched();
    for (let i = 0; i < changes.length; i++) {
      const change = changes[i]!;
      report.changed(change.key, change.revision, change.next === undefined);
      const value = this.values.get(change.key);
      if (!value) continue;
      // A batch's `next` is the key's effective entry now.
      const next = change.next && new EntryValue(change.next);
      const configChange = value.hasChangeListeners
        ? (streamed?.[i] ?? toConfigChange(change))
        : undefined;
      // The store reports only changes whose bytes differ from `previous`.
      value.apply(next, configChange, change.previous);
    }
    if (streamed) for (const configChange of streamed) this.changesSubject.next(configChange);
    if (this.folderValues === 0) {
      if (this.batches.observed) this.batches.next(changes);
      return;
    }
    for (const [key, value] of this.values) {
      if (!key.endsWith('/')) continue;
      const inside = changes.filter(change => change.key.startsWith(key));
      if (inside.length === 0) continue;
      const effective = this.folderAfter(key, inside);
      report.changed(key, revision, false);
      value.apply(effective, {
        key,
        value: effective?.value,
        previousValue: value.value,
        type: effective ? 'put' : 'delete',
        revision,
        source: inside[0]!.next?.key ?? inside[0]!.previous!.key,
      });
    }
    if (this.batches.observed) this.batches.next(changes);
  }

  /**
   * A folder ConfigValue's value after `inside` (the batch's changes below it): made from the value
   * before when the batch only put new revisions of keys it holds (the entries replaced, the
   * object copied along the changed paths), else assembled again from the store.
   */
  private folderAfter(key: string, inside: readonly StoreChange[]): FolderValue | undefined {
    const before = this.folders.get(key);
    if (before && before.store === this.store() && before.folder) {
      const puts: ConfigEntry[] = [];
      for (const change of inside) if (change.next) puts.push(change.next);
      const folder = puts.length === inside.length ? before.folder.withPuts(puts) : undefined;
      if (folder) {
        this.folders.set(key, { store: before.store, folder });
        return folder;
      }
    }
    return this.effectiveOf(key) as FolderValue | undefined;
  }

  /**
   * The text the app accepted for an entry: a value a ConfigValue rejected is written as the value
   * it kept (`undefined` while it serves its default).
   */
  acceptedText(entry: ConfigEntry): string | undefined {
    const value = this.values.get(entry.configKey);
    const rejected = value?.rejected;
    if (!rejected || rejected.source !== entry.key || !rejected.raw) return entry.text;
    if (!sameBytes(rejected.raw, entry.value)) return entry.text;
    return value.accepted?.text;
  }

  /** Ends every stream (the module is destroyed). */
  complete(): void {
    for (const value of this.values.values()) value.complete();
    this.changesSubject.complete();
    this.batches.complete();
  }

  private watching(key: string, delta: 1 | -1): void {
    const count = (this.watched.get(key) ?? 0) + delta;
    if (count > 0) this.watched.set(key, count);
    else this.watched.delete(key);
    if (key.endsWith('/') && (count === 0 || (count === 1 && delta === 1))) {
      this.watchedFolders += delta;
    }
  }
}

function touches(key: string, changed: string): boolean {
  return key.endsWith('/') ? changed.startsWith(key) : changed === key;
}

function toConfigChange(change: StoreChange): ConfigChange {
  return {
    key: change.key,
    value: change.next?.decoded,
    previousValue: change.previous?.decoded,
    type: change.next ? 'put' : 'delete',
    revision: change.revision,
    source: (change.next ?? change.previous)!.key,
  };
}

function sameOptions(a: ConfigValueOptions<unknown>, b: ConfigValueOptions<unknown>): boolean {
  return a.default === b.default && a.parse === b.parse && a.schema === b.schema;
}
