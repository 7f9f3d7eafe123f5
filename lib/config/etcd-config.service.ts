import { Logger, type OnModuleDestroy } from '@nestjs/common';
import {
  BehaviorSubject,
  Observable,
  Subject,
  defer,
  distinctUntilChanged,
  filter,
  map,
  startWith,
} from 'rxjs';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { describeCause } from '../common/describe-cause.js';
import { within } from '../common/timing.js';
import { ConfigDisabledError } from '../errors/config-disabled.error.js';
import { ConfigKeyNotFoundError } from '../errors/config-key-not-found.error.js';
import { EtcdConnectionError } from '../errors/etcd-connection.error.js';
import { EtcdUnavailableError } from '../errors/etcd-unavailable.error.js';
import type { ResolvedEtcdOptions } from '../etcd-options.resolver.js';
import type { InformerHandle, InformerPool } from '../watch/informer-pool.js';
import type { InformerChange } from '../watch/informer.interfaces.js';
import type { PrefixInformer } from '../watch/prefix-informer.js';
import { decodeDefault, decodeText, decodeWith, encodeValue } from './config-codec.js';
import { ConfigSnapshotStore, type ConfigSnapshotData } from './config-snapshot.js';
import type {
  ConfigChange,
  ConfigRejection,
  ConfigValue,
  ConfigValueOptions,
} from './config-value.interface.js';

/** What the service holds for one key. */
interface Held {
  raw: Buffer;
  text: string;
  value: unknown;
  revision: number;
}

/** Internal per-key notification: raw bytes (undefined for a delete) and revision. */
interface KeyUpdate {
  key: string;
  raw: Buffer | undefined;
  revision: number;
}

/**
 * The configuration center: every key under `config.prefix`, kept live by an etcd watch.
 *
 * Reads (`get`, `getAll`, `ConfigValue.value`) are synchronous and served from memory; `watch()` and
 * `changes$` push each change. While etcd is unreachable the last values keep being served.
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
  private readonly held = new Map<string, Held>();
  private readonly changesSubject = new Subject<ConfigChange>();
  private readonly rejectionsSubject = new Subject<ConfigRejection>();
  private readonly updates = new Subject<KeyUpdate>();
  private readonly values = new Map<string, LiveConfigValue<unknown>>();
  private handle: InformerHandle | undefined;
  private snapshotStore: ConfigSnapshotStore | undefined;
  private revision = 0;
  private readonly connectedSubject = new BehaviorSubject<boolean>(false);
  private readonly subscriptions: Array<{ unsubscribe(): void }> = [];
  private readonly enabled: boolean;

  /**
   * Every value rejected (not UTF-8, or failing `parse` / `schema`) while the last good value is kept:
   * `{ key, revision, reason }`, one per key revision and injected value. Metrics count these.
   */
  readonly rejections$: Observable<ConfigRejection> = this.rejectionsSubject.asObservable();

  /** Every change under the prefix: `{ key, value, previousValue, type, revision }`. */
  readonly changes$: Observable<ConfigChange> = this.changesSubject.asObservable();
  /** `true` while the config watch is healthy; replays the current value. */
  readonly connected$: Observable<boolean> = this.connectedSubject.pipe(distinctUntilChanged());

  /** @internal Created by EtcdModule; use injection. */
  constructor(
    private readonly connection: EtcdConnection,
    private readonly informers: InformerPool,
    private readonly options: ResolvedEtcdOptions,
  ) {
    this.enabled = options.config !== false;
  }

  /** The etcd key prefix config keys live under (e.g. `/config/`). */
  get prefix(): string {
    return this.options.config === false ? '' : this.options.config.prefix;
  }

  /** The revision of the last change applied (or of the snapshot booted from). */
  get currentRevision(): number {
    return this.revision;
  }

  /**
   * Loads every key before the app finishes `init()`. With etcd down and a valid snapshot file it
   * serves the snapshot and keeps syncing in the background.
   * @internal
   */
  async init(): Promise<void> {
    const config = this.options.config;
    if (config === false) return;
    const source = `${this.options.namespace}${config.prefix}`;
    if (config.snapshotFile) {
      this.snapshotStore = new ConfigSnapshotStore(
        config.snapshotFile,
        source,
        config.snapshotDebounce,
      );
    }
    this.handle = this.informers.acquire(config.prefix, { pinned: true });
    const informer = this.handle.informer;
    this.subscriptions.push(
      informer.changes$.subscribe(change => this.applyChange(change)),
      informer.state$.subscribe(state => {
        if (state.synced && !this.synced) this.reconcile(informer);
        this.connectedSubject.next(state.connected);
      }),
    );
    if (this.synced) return;

    const offline = this.connection.bootedOffline;
    const timeout = offline ? 0 : this.options.connectTimeout;
    const loaded = await within(informer.ready(), timeout).then(
      result => result.settled,
      () => false,
    );
    if (loaded || this.synced) return;
    const snapshot = config.snapshotFile
      ? ConfigSnapshotStore.read(config.snapshotFile, source)
      : undefined;
    if (snapshot) {
      this.bootFromSnapshot(snapshot);
      return;
    }
    const cause = informer.lastError;
    const mapped =
      cause instanceof Error && !(cause instanceof EtcdConnectionError)
        ? this.connection.mapError(cause, 'read config', config.prefix)
        : undefined;
    throw mapped && !(mapped instanceof EtcdUnavailableError)
      ? mapped
      : new EtcdConnectionError(this.options.hosts, this.options.connectTimeout, cause);
  }

  /**
   * The decoded value of a key (JSON when it parses, else the string), or `defaultValue` / `undefined`
   * when the key is missing.
   */
  get<T = unknown>(key: string): T | undefined;
  get<T>(key: string, defaultValue: T): T;
  get<T>(key: string, defaultValue?: T): T | undefined {
    const held = this.held.get(key);
    return held === undefined ? defaultValue : (held.value as T);
  }

  /**
   * The decoded value of a key.
   * @throws ConfigKeyNotFoundError naming the key and prefix when it is missing.
   */
  getOrThrow<T = unknown>(key: string): T {
    const held = this.held.get(key);
    if (held === undefined) throw new ConfigKeyNotFoundError(key, this.prefix);
    return held.value as T;
  }

  /** Every key under the prefix, decoded. A fresh object each call. */
  getAll(): Record<string, unknown> {
    const all: Record<string, unknown> = {};
    for (const [key, held] of [...this.held.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      all[key] = held.value;
    }
    return all;
  }

  /** Current value first, then each change of the key (no repeats of an unchanged value). */
  watch<T = unknown>(key: string): Observable<T | undefined> {
    return defer(() =>
      this.updates.pipe(
        filter(update => update.key === key),
        map(() => this.held.get(key)),
        startWith(this.held.get(key)),
      ),
    ).pipe(
      distinctUntilChanged((a, b) => a?.text === b?.text),
      map(held => held?.value as T | undefined),
    );
  }

  /**
   * A live {@link ConfigValue} for a key, decoded with `options`. One instance per key: later calls
   * get the same object (their options are ignored with a warning when they differ).
   */
  getConfigValue<T>(key: string, options: ConfigValueOptions<T> = {}): ConfigValue<T> {
    this.assertEnabled(key);
    const existing = this.values.get(key);
    if (existing) {
      if (!sameOptions(existing.options, options)) {
        this.logger.warn(
          `config key "${key}" is injected with different options in several places; the first ones are used`,
        );
      }
      return existing as unknown as ConfigValue<T>;
    }
    const value = new LiveConfigValue<unknown>(key, options, this.logger, rejection =>
      this.rejectionsSubject.next(rejection),
    );
    const held = this.held.get(key);
    value.update(held?.raw, held?.revision ?? this.revision);
    this.values.set(key, value);
    return value as unknown as ConfigValue<T>;
  }

  /**
   * The value behind `@InjectConfig(key)`. Keys are recorded process-wide, so an app with the config
   * center off may be handed a key another app injects: that must not break its boot, only its use.
   * @internal
   */
  injectedValue<T>(key: string, options: ConfigValueOptions<T>): ConfigValue<T> {
    if (this.enabled) return this.getConfigValue(key, options);
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

  /** Writes a key: strings are stored as-is, anything else as JSON. */
  async set(key: string, value: unknown): Promise<void> {
    this.assertEnabled(key);
    const etcdKey = this.etcdKey(key);
    try {
      await this.connection.kv.put(etcdKey).value(encodeValue(value));
    } catch (err) {
      throw this.connection.mapError(err, 'set', etcdKey);
    }
  }

  /** Deletes a key (no error when it does not exist). */
  async delete(key: string): Promise<void> {
    this.assertEnabled(key);
    const etcdKey = this.etcdKey(key);
    try {
      await this.connection.kv.delete().key(etcdKey);
    } catch (err) {
      throw this.connection.mapError(err, 'delete', etcdKey);
    }
  }

  /** Writes the snapshot file one last time. @internal */
  async onModuleDestroy(): Promise<void> {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    this.handle?.release();
    await this.snapshotStore?.flush();
    for (const value of this.values.values()) value.complete();
    this.changesSubject.complete();
    this.rejectionsSubject.complete();
    this.updates.complete();
    this.connectedSubject.complete();
  }

  private synced = false;

  private etcdKey(key: string): string {
    if (typeof key !== 'string' || key.length === 0) {
      throw new TypeError('config key must be a non-empty string');
    }
    return `${this.prefix}${key}`;
  }

  private assertEnabled(key: string): void {
    if (!this.enabled) {
      throw new ConfigDisabledError(key, 'requested');
    }
  }

  private relativeKey(etcdKey: string): string {
    return etcdKey.slice(this.prefix.length);
  }

  /** First sync (and sync after booting from a snapshot): diff the whole map. */
  private reconcile(informer: PrefixInformer): void {
    this.synced = true;
    const snapshot = informer.snapshot;
    const seen = new Set<string>();
    for (const entry of snapshot.entries.values()) {
      const key = this.relativeKey(entry.key);
      seen.add(key);
      const held = this.held.get(key);
      if (!held || !held.raw.equals(entry.value)) this.put(key, entry.value, entry.modRevision);
    }
    for (const key of [...this.held.keys()]) {
      if (!seen.has(key)) this.remove(key, snapshot.revision);
    }
    this.revision = snapshot.revision;
    this.saveSnapshot();
  }

  private applyChange(change: InformerChange): void {
    if (!this.synced) return; // the first sync reconciles the whole map
    const key = this.relativeKey(change.key);
    if (change.type === 'put' && change.entry) this.put(key, change.entry.value, change.revision);
    else this.remove(key, change.revision);
    this.revision = Math.max(this.revision, change.revision);
    this.saveSnapshot();
  }

  private put(key: string, raw: Buffer, revision: number): void {
    const text = decodeText(raw);
    if (!text.ok) {
      // Keep serving the last good value (the informer delivers each revision once: one line each).
      this.logger.warn(
        `config "${key}" at revision ${revision} rejected: ${text.reason}; keeping the last good value`,
      );
      this.rejectionsSubject.next({ key, revision, reason: text.reason });
      return;
    }
    const previous = this.held.get(key);
    if (previous && previous.text === text.value) return;
    const value = decodeDefault(text.value);
    this.held.set(key, { raw, text: text.value, value, revision });
    this.values.get(key)?.update(raw, revision);
    this.updates.next({ key, raw, revision });
    this.changesSubject.next({ key, value, previousValue: previous?.value, type: 'put', revision });
  }

  private remove(key: string, revision: number): void {
    const previous = this.held.get(key);
    if (!previous) return;
    this.held.delete(key);
    this.values.get(key)?.update(undefined, revision);
    this.updates.next({ key, raw: undefined, revision });
    this.changesSubject.next({
      key,
      value: undefined,
      previousValue: previous.value,
      type: 'delete',
      revision,
    });
  }

  private bootFromSnapshot(snapshot: ConfigSnapshotData): void {
    for (const [key, text] of Object.entries(snapshot.values)) {
      const raw = Buffer.from(text, 'utf8');
      this.held.set(key, { raw, text, value: decodeDefault(text), revision: snapshot.revision });
    }
    this.revision = snapshot.revision;
    const cause = this.handle?.informer.lastError;
    const why =
      this.connection.bootedOffline || cause === undefined
        ? `${this.options.hosts.join(', ')} did not answer within ${this.options.connectTimeout} ms`
        : describeCause(cause);
    this.logger.warn(
      `etcd unreachable at boot (${why}); serving ${this.held.size} ` +
        `config key(s) from snapshot ${this.snapshotStore?.file ?? ''} (revision ${snapshot.revision}, ` +
        `saved ${snapshot.savedAt}); will resync when etcd answers`,
    );
  }

  private saveSnapshot(): void {
    this.snapshotStore?.schedule(() => {
      const values: Record<string, string> = {};
      for (const [key, held] of this.held) values[key] = held.text;
      return { revision: this.revision, values };
    });
  }
}

/** The object `@InjectConfig` injects. */
class LiveConfigValue<T> extends Observable<T> implements ConfigValue<T> {
  private readonly subject: BehaviorSubject<T>;
  private lastText: string | undefined;

  constructor(
    readonly key: string,
    readonly options: ConfigValueOptions<T>,
    private readonly logger: Logger,
    private readonly onReject: (rejection: ConfigRejection) => void,
  ) {
    const subject = new BehaviorSubject<T>(options.default as T);
    super(subscriber => subject.subscribe(subscriber));
    this.subject = subject;
  }

  get value(): T {
    return this.subject.getValue();
  }

  /** Applies a new raw value (or a delete); rejects values that fail `parse` / `schema`. */
  update(raw: Buffer | undefined, revision: number): void {
    if (raw === undefined) {
      this.lastText = undefined;
      if (this.subject.getValue() !== this.options.default)
        this.subject.next(this.options.default as T);
      return;
    }
    const text = raw.toString('utf8');
    if (text === this.lastText) return;
    const decoded = decodeWith(raw, this.options);
    if (!decoded.ok) {
      this.logger.warn(
        `config "${this.key}" at revision ${revision} rejected: ${decoded.reason}; keeping the last good value`,
      );
      this.onReject({ key: this.key, revision, reason: decoded.reason });
      return;
    }
    this.lastText = text;
    this.subject.next(decoded.value);
  }

  complete(): void {
    this.subject.complete();
  }
}

function sameOptions(a: ConfigValueOptions<unknown>, b: ConfigValueOptions<unknown>): boolean {
  return a.default === b.default && a.parse === b.parse && a.schema === b.schema;
}
