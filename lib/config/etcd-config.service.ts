import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { setOwn } from '../common/own-property.js';
import { ConfigDisabledError } from '../errors/config-disabled.error.js';
import { ConfigKeyNotFoundError } from '../errors/config-key-not-found.error.js';
import type { EtcdConnectionError } from '../errors/etcd-connection.error.js';
import type { ResolvedEtcdOptions } from '../options/resolved-etcd-options.interface.js';
import type { InformerPool } from '../watch/informer-pool.js';
import { applyOptions, decodeByFormat, encodeValue } from './config-codec.js';
import { ConfigHistory } from './config-history.js';
import type { ConfigOfflineKeeper } from './config-offline.js';
import { ConfigFanout } from './config-fanout.js';
import { ConfigSources } from './config-source.js';
import { ConfigStatusReader } from './config-status.reader.js';
import { ConfigReport } from './config-report.js';
import type { PublishedSchema } from './config-schema.js';
import type { ConfigKeyStatus, ConfigStatus } from './config-status.js';
import { startConfig } from './config-startup.js';
import type { ConfigStore } from './config-store.js';
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
import { type LiveConfigValue, type AcceptedChange } from './live-config-value.js';

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
  private readonly rejectionsSubject = new Subject<ConfigRejection>();
  /** The watched prefixes (shared ones, then the app's own). */
  private readonly sources = new ConfigSources();
  private readonly subscriptions: Array<{ unsubscribe(): void }> = [];
  private store: ConfigStore | undefined;
  /** The snapshot file: written as values are accepted, served at an offline boot. */
  private keeper: ConfigOfflineKeeper | undefined;
  private readonly past: ConfigHistory;
  /** Standing rejections, served revisions and schemas: what the status key says. @internal */
  readonly report = new ConfigReport(this.logger);
  /** The app's ConfigValues, `watch()` streams and `changes$`, and the fan-out of each batch. */
  private readonly fanout = new ConfigFanout(
    this.logger,
    this.report,
    () => this.store,
    () => this.prefix,
    rejection => this.refuse(rejection),
  );
  private readonly statusReader = new ConfigStatusReader(
    {
      prefix: () => this.prefix,
      shared: () => (this.options.config === false ? [] : this.options.config.shared),
      profiles: () => this.profiles,
      currentRevision: () => this.currentRevision,
      store: () => this.store,
    },
    this.report,
    this.fanout,
  );

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
  readonly changes$: Observable<ConfigChange> = this.fanout.changes$;
  /** `true` while every config watch is healthy; replays the current value. */
  readonly connected$: Observable<boolean> = this.sources.connected$;

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
    return this.sources.revision;
  }

  /**
   * Loads every key before the app finishes `init()`; with etcd down and a valid snapshot file it
   * serves the snapshot and catches up in the background ({@link startConfig}).
   * @internal
   */
  async init(): Promise<void> {
    if (this.options.config === false) return;
    await startConfig({
      config: this.options.config,
      options: this.options,
      connection: this.connection,
      informers: this.informers,
      sources: this.sources,
      fanout: this.fanout,
      report: this.report,
      past: this.past,
      logger: this.logger,
      subscriptions: this.subscriptions,
      bootError: this.bootError,
      currentRevision: () => this.currentRevision,
      refuse: rejection => this.refuse(rejection),
      opened: (store, keeper) => {
        this.store = store;
        this.keeper = keeper;
      },
    });
  }

  /**
   * The effective value of a key (decoded by its name: `*.json`, `*.yaml`, else JSON when it parses,
   * else the string), or `defaultValue` / `undefined` when the key is missing. A key ending in `/` is a
   * folder: every key below it assembled into one object.
   */
  get<T = unknown>(key: string): T | undefined;
  get<T>(key: string, defaultValue: T): T;
  get<T>(key: string, defaultValue?: T): T | undefined {
    const effective = this.fanout.valueOf(key);
    return effective === undefined ? defaultValue : (effective.value as T);
  }

  /**
   * The effective value of a key (or folder).
   * @throws ConfigKeyNotFoundError naming the key and prefix when it is missing.
   */
  getOrThrow<T = unknown>(key: string): T {
    const effective = this.fanout.valueOf(key);
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
    return this.fanout.watch<T>(key);
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
        ? (this.fanout.values.get(key) ?? this.liveValue(key, recordedConfigKeys().get(key) ?? {}))
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
    return this.statusReader.servedRevision;
  }

  /** Each key's served revision and state (what the status key reports), by key. */
  keyStatuses(): Record<string, ConfigKeyStatus> {
    return this.statusReader.keyStatuses();
  }

  /**
   * What this instance reports in its status key (without its service name and instance id).
   * @internal
   */
  status(): Omit<ConfigStatus, 'serviceName' | 'instanceId'> {
    return this.statusReader.status();
  }

  /** The JSON Schemas the app's ConfigValues publish (one per hash). @internal */
  publishedSchemas(): PublishedSchema[] {
    return this.statusReader.publishedSchemas();
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
      : [key, this.fanout.values.get(key)?.options ?? recordedConfigKeys().get(key) ?? {}];
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
    this.sources.release();
    await this.store?.close();
    await this.keeper?.flush();
    this.fanout.complete();
    this.rejectionsSubject.complete();
  }

  /** Decodes a text as the store decodes a value put at the app's own `<prefix><key>`. */
  private decodeAs(key: string, text: string): ConfigValidation<unknown> {
    return this.store!.decoder.decodeNow(`${this.prefix}${key}`, text);
  }

  private refuse(rejection: ConfigRejection): void {
    this.report.refuse(rejection);
    this.rejectionsSubject.next(rejection);
  }

  private liveValue(key: string, options: ConfigValueOptions<unknown>): LiveConfigValue<unknown> {
    this.assertEnabled(key);
    return this.fanout.liveValue(key, options);
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
