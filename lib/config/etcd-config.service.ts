import { Logger, type OnModuleDestroy } from '@nestjs/common';
import {
  Observable,
  Subject,
  combineLatest,
  defer,
  distinctUntilChanged,
  filter,
  finalize,
  map,
  of,
  startWith,
} from 'rxjs';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { describeCause } from '../common/describe-cause.js';
import { setOwn } from '../common/own-property.js';
import { within } from '../common/timing.js';
import { ConfigDisabledError } from '../errors/config-disabled.error.js';
import { ConfigKeyNotFoundError } from '../errors/config-key-not-found.error.js';
import { EtcdConnectionError } from '../errors/etcd-connection.error.js';
import { EtcdUnavailableError } from '../errors/etcd-unavailable.error.js';
import type { ResolvedEtcdOptions } from '../options/resolved-etcd-options.interface.js';
import type { InformerHandle, InformerPool } from '../watch/informer-pool.js';
import type { InformerChange, InformerSink } from '../watch/informer.interfaces.js';
import { applyOptions, decodeByFormat, encodeValue } from './config-codec.js';
import { newestValid } from './config-boot.js';
import { ConfigHistory } from './config-history.js';
import { ConfigOfflineKeeper } from './config-offline.js';
import { ConfigReport, type ServedValue } from './config-report.js';
import type { PublishedSchema } from './config-schema.js';
import type { ConfigKeyStatus, ConfigStatus } from './config-status.js';
import {
  type ConfigEntry,
  ConfigStore,
  assembleFolder,
  sameBytes,
  type StoreChange,
} from './config-store.js';
import type {
  ConfigChange,
  ConfigRejection,
  ConfigRevision,
  ConfigValidation,
  ConfigValue,
  ConfigValueOptions,
} from './config-value.interface.js';
import { isConfigDefinition, type ConfigDefinition } from './define-config.js';
import { recordedConfigKeys } from './inject-config.decorator.js';
import { EntryValue, sameEffective, type EffectiveValue } from './effective-value.js';
import { LiveConfigValue, type AcceptedChange } from './live-config-value.js';

/**
 * One watched source prefix (a shared prefix or the app's own), and the sink of its informer: each
 * change goes straight into the store, and each watch response ends its batch, so a change reaches
 * the app's ConfigValue within the turn it arrived in.
 */
class Source implements InformerSink {
  handle!: InformerHandle;
  synced = false;
  /** Revision of the last listing or change the informer delivered. */
  revision = 0;

  constructor(
    readonly prefix: string,
    private readonly store: ConfigStore,
    private readonly onSettled: () => void,
  ) {}

  changed(change: InformerChange): void {
    // Before the first sync the whole listing is reconciled at once.
    if (!this.synced) return;
    this.revision = Math.max(this.revision, change.revision);
    this.store.changed(change);
  }

  settled(): void {
    this.store.flush();
    this.onSettled();
  }
}

/**
 * The configuration center: every key under `config.prefix` (plus the `config.shared` prefixes
 * below it and the `@<profile>/` overlays above it), kept live by etcd watches.
 *
 * Reads (`get`, `getAll`, `ConfigValue.value`) are synchronous and served from memory; `watch()` and
 * `changes$` push each change of the effective value. While etcd is unreachable the last values keep
 * being served.
 *
 * @example
 * ```ts
 * constructor(private readonly config: EtcdConfigService) {}
 * const limit = this.config.get<number>('rateLimit', 100);
 * this.config.watch<string>('greeting').subscribe(g => console.log('greeting is now', g));
 * await this.config.set('greeting', 'Hello from etcd');
 * ```
 */
export class EtcdConfigService implements OnModuleDestroy {
  private readonly logger = new Logger('EtcdConfig');
  private readonly changesSubject = new Subject<ConfigChange>();
  private readonly rejectionsSubject = new Subject<ConfigRejection>();
  private readonly batches = new Subject<readonly StoreChange[]>();
  private readonly values = new Map<string, LiveConfigValue<unknown>>();
  /** How many of {@link values} are folders (`db/`). */
  private folderValues = 0;
  /** Keys (and folders) with `watch()` subscribers, and how many each. */
  private readonly watched = new Map<string, number>();
  /** How many of {@link watched} are folders. */
  private watchedFolders = 0;
  private readonly sources: Source[] = [];
  private readonly subscriptions: Array<{ unsubscribe(): void }> = [];
  private store: ConfigStore | undefined;
  /** The snapshot file: written as values are accepted, served at an offline boot. */
  private keeper: ConfigOfflineKeeper | undefined;
  private readonly past: ConfigHistory;
  /** Standing rejections, served revisions and schemas: what the status key says. @internal */
  readonly report = new ConfigReport(this.logger);

  /**
   * Every value rejected (not UTF-8, an invalid JSON / YAML document, or failing `parse` / `schema`)
   * while the last good value is kept: `{ key, revision, reason }`, one per key revision and injected
   * value. Metrics count these.
   */
  readonly rejections$: Observable<ConfigRejection> = this.rejectionsSubject.asObservable();

  /**
   * Every change of an effective value: `{ key, value, previousValue, type, revision, source }`
   * (`source` names the etcd key that supplies the value).
   */
  readonly changes$: Observable<ConfigChange> = this.changesSubject.asObservable();
  /** `true` while every config watch is healthy; replays the current value. */
  readonly connected$: Observable<boolean> = defer(() =>
    this.sources.length === 0
      ? of(false)
      : combineLatest(this.sources.map(source => source.handle.informer.connected$)).pipe(
          map(states => states.every(Boolean)),
        ),
  ).pipe(distinctUntilChanged());

  /** @internal Created by EtcdModule; use injection. */
  constructor(
    private readonly connection: EtcdConnection,
    private readonly informers: InformerPool,
    private readonly options: ResolvedEtcdOptions,
    /** Why etcd was unreachable at boot (the boot state), when the module may boot from its snapshot. */
    private readonly bootError?: EtcdConnectionError,
  ) {
    this.past = new ConfigHistory(connection, this.prefix);
  }

  /** The etcd key prefix config keys live under (e.g. `/config/`). */
  get prefix(): string {
    return this.options.config === false ? '' : this.options.config.prefix;
  }

  /** The active profiles (`config.profiles` or env `ETCD_CONFIG_PROFILES`), lowest first. */
  get profiles(): readonly string[] {
    return this.options.config === false ? [] : this.options.config.profiles;
  }

  /** The revision of the config served: the watches' revision, or the snapshot's while offline. */
  get currentRevision(): number {
    const offline = this.keeper?.offlineRevision;
    if (offline !== undefined) return offline;
    return Math.max(0, ...this.sources.map(source => source.revision));
  }

  /**
   * Loads every key before the app finishes `init()`. With etcd down and a valid snapshot file it
   * serves the snapshot and catches up in the background. The one place that decides an offline boot.
   * @internal
   */
  async init(): Promise<void> {
    const config = this.options.config;
    if (config === false) return;
    const prefixes = [...config.shared, config.prefix];
    this.store = new ConfigStore(
      prefixes,
      config.profiles,
      this.logger,
      (changes, revision) => this.publish(changes, revision),
      rejection => this.refuse(rejection),
      {
        maxValueBytes: config.maxValueBytes,
        isRead: key => this.isRead(key),
        onDecoded: () => this.saveSnapshot(),
      },
    );
    this.keeper = new ConfigOfflineKeeper(
      config,
      `${this.options.namespace}${config.prefix}`,
      this.store,
      this.logger,
      entry => this.acceptedText(entry),
    );
    const bootError = this.bootError;
    for (const prefix of prefixes) this.watchSource(prefix);
    if (this.sources.every(s => s.synced)) return this.bootInjected();

    const loaded =
      bootError === undefined &&
      (await within(
        Promise.all(this.sources.map(s => s.handle.informer.ready())),
        this.options.connectTimeout,
      ).then(
        result => result.settled,
        () => false,
      ));
    if (loaded || this.sources.every(s => s.synced)) return this.bootInjected();
    const snapshot = this.keeper.read();
    if (snapshot) {
      const why =
        bootError instanceof EtcdConnectionError
          ? bootError.cause
          : this.sources.find(s => !s.synced)?.handle.informer.lastError;
      this.keeper.boot(snapshot, why, this.options.hosts, this.options.connectTimeout);
      await this.decodeInjected();
      for (const value of this.values.values()) value.apply(this.effectiveOf(value.key));
      return;
    }
    if (bootError) throw bootError;
    const cause = this.sources.find(s => !s.synced)?.handle.informer.lastError;
    const mapped =
      cause instanceof Error && !(cause instanceof EtcdConnectionError)
        ? this.connection.mapError(cause, 'read config', config.prefix)
        : undefined;
    throw mapped && !(mapped instanceof EtcdUnavailableError)
      ? mapped
      : new EtcdConnectionError(this.options.hosts, this.options.connectTimeout, cause);
  }

  /**
   * The effective value of a key (decoded by its name: `*.json`, `*.yaml`, else JSON when it parses,
   * else the string), or `defaultValue` / `undefined` when the key is missing. A key ending in `/` is a
   * folder: every key below it assembled into one object.
   */
  get<T = unknown>(key: string): T | undefined;
  get<T>(key: string, defaultValue: T): T;
  get<T>(key: string, defaultValue?: T): T | undefined {
    const effective = this.valueOf(key);
    return effective === undefined ? defaultValue : (effective.value as T);
  }

  /**
   * The effective value of a key (or folder).
   * @throws ConfigKeyNotFoundError naming the key and prefix when it is missing.
   */
  getOrThrow<T = unknown>(key: string): T {
    const effective = this.valueOf(key);
    if (effective === undefined) throw new ConfigKeyNotFoundError(key, this.prefix);
    return effective.value as T;
  }

  /** Every key's effective value (shared, own and overlays resolved). A fresh object each call. */
  getAll(): Record<string, unknown> {
    const all: Record<string, unknown> = {};
    for (const entry of this.store?.effectiveEntries() ?? [])
      setOwn(all, entry.configKey, entry.decoded);
    return all;
  }

  /**
   * Current effective value first, then each change of the key (no repeats of an unchanged value).
   * A folder key (`db/`) emits one assembled object per etcd revision that changed it.
   */
  watch<T = unknown>(key: string): Observable<T | undefined> {
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

  /**
   * A live {@link ConfigValue} for a key, decoded with `options`. One instance per key: later calls
   * get the same object (their options are ignored with a warning when they differ).
   */
  getConfigValue<T>(key: string, options: ConfigValueOptions<T> = {}): ConfigValue<T> {
    return this.liveValue(key, options) as ConfigValue<T>;
  }

  /**
   * The value behind `@InjectConfig(key)`. Keys are recorded process-wide, so an app with the config
   * center off may be handed a key another app injects: that must not break its boot, only its use.
   * @internal
   */
  injectedValue<T>(key: string, options: ConfigValueOptions<T>): ConfigValue<T> {
    if (this.options.config !== false) return this.getConfigValue(key, options);
    const disabled = () => new ConfigDisabledError(key, 'injected');
    return Object.defineProperties(new Observable<T>(subscriber => subscriber.error(disabled())), {
      key: { value: key, enumerable: true },
      value: {
        get: () => {
          throw disabled();
        },
      },
    }) as ConfigValue<T>;
  }

  /**
   * Accepted changes of a key (after `parse` / `schema`), for `@OnConfigChange`. `options`
   * `undefined`: the key's existing {@link ConfigValue} or the options `@InjectConfig` recorded.
   * @internal
   */
  acceptedChanges(
    key: string,
    options: ConfigValueOptions<unknown> | undefined,
  ): Observable<AcceptedChange<unknown>> {
    this.assertEnabled(key);
    const value =
      options === undefined
        ? (this.values.get(key) ?? this.liveValue(key, recordedConfigKeys().get(key) ?? {}))
        : this.liveValue(key, options);
    return value.accepted$;
  }

  /** Writes a key: strings are stored as-is, anything else as JSON. */
  async set(key: string, value: unknown): Promise<void> {
    const etcdKey = this.etcdKey(key);
    try {
      await this.connection.kv.put(etcdKey).value(encodeValue(value));
    } catch (err) {
      throw this.connection.mapError(err, 'set', etcdKey);
    }
  }

  /** Deletes a key (no error when it does not exist). */
  async delete(key: string): Promise<void> {
    const etcdKey = this.etcdKey(key);
    try {
      await this.connection.kv.delete().key(etcdKey);
    } catch (err) {
      throw this.connection.mapError(err, 'delete', etcdKey);
    }
  }

  /**
   * The history of one of the app's own keys (`<prefix><key>`) from etcd's MVCC store, newest first:
   * `{ value, raw, revision, version, deleted, valid, reason? }`, every generation across deletes,
   * back to etcd's compaction point (or `limit` entries, default 20). `valid` says whether the app
   * would accept the value (format, then the key's `parse` / `schema`, as {@link validate}). Read
   * with one etcd watch replaying the key's events, not one read per revision.
   */
  async history(key: string, options: { limit?: number } = {}): Promise<ConfigRevision[]> {
    this.etcdKey(key);
    const limit = options.limit ?? 20;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new TypeError('history() limit must be a positive integer');
    }
    return this.past.history(key, limit, text => this.validate(key, text));
  }

  /**
   * Puts back the value a key (`<prefix><key>`) held at an etcd revision, as a new revision. A folder
   * (`db/`) gets every key below it as it was then, in one transaction (keys created since are
   * deleted).
   * @throws ConfigRevisionAbsentError when the key (or folder) did not exist then: nothing changes.
   * @throws ConfigRevisionCompactedError when etcd compacted that revision away.
   */
  async rollback(key: string, revision: number): Promise<void> {
    this.etcdKey(key);
    if (!Number.isInteger(revision) || revision < 1) {
      throw new TypeError('rollback() needs a positive integer etcd revision');
    }
    await this.past.rollback(key, revision);
  }

  /**
   * The revision of the config the app serves: the watches' revision ({@link currentRevision}),
   * unless a key refused its newest revision; then the newest revision among the values served
   * (and deletes applied), never a refused one.
   */
  get servedRevision(): number {
    if (!this.report.hasRejections) return this.currentRevision;
    let served = this.report.lastDelete;
    for (const key of this.statusKeys()) served = Math.max(served, this.served(key).revision);
    return served;
  }

  /** Each key's served revision and state (what the status key reports), by key. */
  keyStatuses(): Record<string, ConfigKeyStatus> {
    const keys: Record<string, ConfigKeyStatus> = {};
    for (const key of this.statusKeys()) {
      setOwn(
        keys,
        key,
        this.report.keyStatus(key, this.served(key), this.values.get(key)?.options),
      );
    }
    return keys;
  }

  /**
   * What this instance reports in its status key (without its service name and instance id).
   * @internal
   */
  status(): Omit<ConfigStatus, 'serviceName' | 'instanceId'> {
    const config = this.options.config;
    return {
      prefix: this.prefix,
      shared: config === false ? [] : [...config.shared],
      profiles: [...this.profiles],
      revision: this.currentRevision,
      keys: this.keyStatuses(),
    };
  }

  /** The JSON Schemas the app's ConfigValues publish (one per hash). @internal */
  publishedSchemas(): PublishedSchema[] {
    const byHash = new Map<string, PublishedSchema>();
    for (const [key, value] of this.values) {
      const schema = this.report.schemaOf(key, value.options);
      if (schema) byHash.set(schema.hash, schema);
    }
    return [...byHash.values()];
  }

  /**
   * Checks a text as if it were put at a key: decoded by the key's format, then the key's `parse` /
   * `schema` (a definition's, else those of the key's ConfigValue or `@InjectConfig`), by the same
   * code an incoming value goes through. A folder (`db/`) takes the assembled object as JSON.
   * @returns `{ ok: true, value }` (the value the app would serve) or `{ ok: false, reason }`.
   */
  validate<T = unknown>(key: string | ConfigDefinition<T>, text: string): ConfigValidation<T> {
    const [name, options] = isConfigDefinition(key)
      ? [key.key, key.options as ConfigValueOptions<unknown>]
      : [key, this.values.get(key)?.options ?? recordedConfigKeys().get(key) ?? {}];
    this.etcdKey(name);
    if (typeof text !== 'string') throw new TypeError('validate() needs the text of a value');
    const decoded = name.endsWith('/') ? decodeByFormat(text, 'json') : this.decodeAs(name, text);
    if (!decoded.ok) return decoded;
    return applyOptions(() => text, decoded.value, options) as ConfigValidation<T>;
  }

  /** Writes the snapshot file one last time. @internal */
  async onModuleDestroy(): Promise<void> {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    this.store?.flush();
    for (const source of this.sources) source.handle.release();
    await this.store?.close();
    await this.keeper?.flush();
    for (const value of this.values.values()) value.complete();
    this.changesSubject.complete();
    this.rejectionsSubject.complete();
    this.batches.complete();
  }

  private watchSource(prefix: string): void {
    const store = this.store!;
    // The end of each watch response: the snapshot file and the status key are due (both written
    // later, coalesced); keys nothing reads are not in the store's batches.
    const source = new Source(prefix, store, () => {
      this.saveSnapshot();
      this.report.touched();
    });
    source.handle = this.informers.acquire(prefix, {
      pinned: true,
      transform: store.transformFor(prefix),
      sink: source,
    });
    this.sources.push(source);
    const informer = source.handle.informer;
    this.subscriptions.push(
      informer.state$.subscribe(state => {
        if (!state.synced || source.synced) return;
        source.synced = true;
        // The store reads the informer's live map (never `informer.snapshot`, a copy).
        source.revision = Math.max(source.revision, state.revision);
        store.synced(prefix, informer, state.revision);
        if (this.sources.every(s => s.synced)) {
          this.keeper?.caughtUp(Math.max(...this.sources.map(s => s.revision)));
        }
        this.saveSnapshot();
      }),
    );
  }

  /** Every key the status covers: those served (any layer) and those a ConfigValue declares. */
  private statusKeys(): string[] {
    const keys = new Set<string>(this.store?.effectiveEntries().map(entry => entry.configKey));
    for (const key of this.values.keys()) keys.add(key);
    return [...keys].sort();
  }

  /** The revision and etcd key of the value served for a key (revision 0: its default). */
  private served(key: string): ServedValue {
    const value = this.values.get(key);
    const accepted = value ? value.accepted : this.effectiveOf(key);
    return accepted
      ? { revision: accepted.revision, source: accepted.source }
      : { revision: 0, source: `${this.prefix}${key}` };
  }

  /** Decodes a text as the store decodes a value put at the app's own `<prefix><key>`. */
  private decodeAs(key: string, text: string): ConfigValidation<unknown> {
    return this.store!.decodeNow(`${this.prefix}${key}`, text);
  }

  private refuse(rejection: ConfigRejection): void {
    this.report.refuse(rejection);
    this.rejectionsSubject.next(rejection);
  }

  /**
   * Whether something reads `key` as it changes: a `changes$` listener, its ConfigValue or `watch()`,
   * or a folder's. Only those keys are decoded when a change arrives; the others when read.
   */
  private isRead(key: string): boolean {
    if (this.changesSubject.observed || this.values.has(key) || this.watched.has(key)) return true;
    if (this.folderValues === 0 && this.watchedFolders === 0) return false;
    for (const folder of [...this.values.keys(), ...this.watched.keys()]) {
      if (folder.endsWith('/') && key.startsWith(folder)) return true;
    }
    return false;
  }

  private watching(key: string, delta: 1 | -1): void {
    const count = (this.watched.get(key) ?? 0) + delta;
    if (count > 0) this.watched.set(key, count);
    else this.watched.delete(key);
    if (key.endsWith('/') && (count === 0 || (count === 1 && delta === 1))) {
      this.watchedFolders += delta;
    }
  }

  /**
   * Decodes the keys `@InjectConfig` recorded before their ConfigValues are made, waiting (bounded by
   * `connectTimeout`) for large YAML documents decoded off the event loop, so every injected value
   * holds its etcd value when the app's constructors run.
   */
  private async decodeInjected(): Promise<void> {
    const store = this.store!;
    for (const key of recordedConfigKeys().keys()) {
      if (key.endsWith('/')) store.effectiveEntries(key);
      else store.effective(key);
    }
    await within(store.idle(), this.options.connectTimeout).catch(() => undefined);
  }

  /** Online boot: injected values decoded, and none served from a default when etcd has a valid one. */
  private async bootInjected(): Promise<void> {
    await this.decodeInjected();
    for (const [key, options] of recordedConfigKeys()) {
      if (key.endsWith('/') || this.values.has(key)) continue;
      try {
        await this.bootNewestValid(key, options);
      } catch (err) {
        this.logger.warn(
          `config "${key}": could not read its history for a valid revision (${describeCause(err)})`,
        );
      }
    }
  }

  /**
   * A key whose value in etcd the app refuses at boot (a bad put, then a rolling deploy) is served
   * the newest revision it accepts ({@link newestValid}), not its default: instances booted after a
   * bad put serve what the running ones kept. One warning names the key and both revisions; the
   * status reports the key `rejected` with the revision served.
   */
  private async bootNewestValid(key: string, options: ConfigValueOptions<unknown>): Promise<void> {
    const repair = await newestValid(
      {
        prefix: this.prefix,
        effective: name => this.effectiveOf(name),
        refusal: name => this.report.refusal(name),
        decode: (name, text) => this.decodeAs(name, text),
        history: (etcdKey, limit, check) => this.past.historyOf(etcdKey, limit, check),
        snapshot: () => this.keeper?.read(),
      },
      key,
      options,
    );
    if (!repair) return;
    const { bad, served } = repair;
    const value = new LiveConfigValue<unknown>(key, options, this.logger, rejection =>
      this.refuse(rejection),
    );
    value.apply(served);
    value.rejected = repair.refused;
    this.values.set(key, value);
    this.refuse({ key, revision: bad.revision, reason: bad.reason });
    this.logger.warn(
      `config "${key}" at revision ${bad.revision} rejected at boot: ${bad.reason}; serving ` +
        `revision ${served.revision}, the newest valid one ` +
        (repair.from === 'history' ? "in etcd's history" : 'in the snapshot file'),
    );
  }

  /** Effective value of a key or folder, without its text (the read path of get()). */
  private valueOf(key: string): { value: unknown } | undefined {
    if (key.endsWith('/')) return this.effectiveOf(key);
    const entry = this.store?.effective(key);
    return entry && { value: entry.decoded };
  }

  /** Effective value of a key or folder, with the text that identifies it. */
  private effectiveOf(key: string): EffectiveValue | undefined {
    const store = this.store;
    if (!store) return undefined;
    if (!key.endsWith('/')) {
      const entry = store.effective(key);
      return entry && new EntryValue(entry);
    }
    const entries = store.effectiveEntries(key);
    if (entries.length === 0) return undefined;
    let text: string | undefined;
    return {
      // Only a custom `parse` reads a folder's text; changes are told apart by `parts`.
      get text() {
        return (text ??= JSON.stringify(entries.map(entry => [entry.configKey, entry.text])));
      },
      parts: entries,
      value: assembleFolder(key, entries),
      source: `${this.prefix}${key}`,
      revision: Math.max(...entries.map(entry => entry.modRevision)),
    };
  }

  private liveValue(key: string, options: ConfigValueOptions<unknown>): LiveConfigValue<unknown> {
    this.assertEnabled(key);
    const existing = this.values.get(key);
    if (existing) {
      if (!sameOptions(existing.options, options)) {
        this.logger.warn(
          `config key "${key}" is injected with different options in several places; the first ones are used`,
        );
      }
      return existing;
    }
    const value = new LiveConfigValue<unknown>(key, options, this.logger, rejection =>
      this.refuse(rejection),
    );
    value.apply(this.effectiveOf(key));
    this.values.set(key, value);
    this.report.touched();
    if (key.endsWith('/')) this.folderValues++;
    return value;
  }

  /** Fans one batch (one etcd revision) out to `changes$`, config values and watchers. */
  private publish(changes: StoreChange[], revision: number): void {
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
      const effective = this.effectiveOf(key);
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

  /** Schedules a write of the snapshot file, once every watch has synced. */
  private saveSnapshot(): void {
    if (!this.sources.every(s => s.synced)) return;
    this.keeper?.save(() => this.currentRevision);
  }

  /**
   * The text the app accepted for an entry: a value a {@link ConfigValue} rejected is written as the
   * value it kept (`undefined` while it serves its default).
   */
  private acceptedText(entry: ConfigEntry): string | undefined {
    const value = this.values.get(entry.configKey);
    const rejected = value?.rejected;
    if (!rejected || rejected.source !== entry.key || !rejected.raw) return entry.text;
    if (!sameBytes(rejected.raw, entry.value)) return entry.text;
    return value.accepted?.text;
  }

  private etcdKey(key: string): string {
    this.assertEnabled(key);
    if (typeof key !== 'string' || key.length === 0) {
      throw new TypeError('config key must be a non-empty string');
    }
    return `${this.prefix}${key}`;
  }

  private assertEnabled(key: string): void {
    if (this.options.config === false) {
      throw new ConfigDisabledError(key, 'requested');
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
