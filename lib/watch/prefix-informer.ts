import { Logger } from '@nestjs/common';
import { Range, type IKeyValue, type IWatchResponse, type Namespace, type Watcher } from 'etcd3';
import { BehaviorSubject, type Observable, Subject, distinctUntilChanged, map } from 'rxjs';
import { Sleeper, backoffDelay } from '../common/backoff.js';
import { describeCause } from '../common/describe-cause.js';
import { EtcdStoppedError } from '../errors/etcd-stopped.error.js';
import { EtcdWatchStalledError } from '../errors/etcd-watch-stalled.error.js';
import type {
  InformerChange,
  InformerEntry,
  InformerOptions,
  InformerResync,
  InformerSnapshot,
  InformerState,
} from './informer.interfaces.js';

/** Why a watch ended: each one leads to a re-list. */
type WatchEndReason = 'stopped' | 'disconnected' | 'canceled' | 'compacted' | 'stalled';

interface WatchEnd {
  reason: WatchEndReason;
  /** etcd acknowledged the watch (created response). */
  acknowledged: boolean;
  /** At least one event was applied. */
  delivered: boolean;
}

/** The part of etcd3's internal WatchManager used to rebuild a dead stream (not public API). */
interface WatchManagerInternals {
  state?: unknown;
  handleError?: (err: Error) => void;
}

/** etcd3's `State.Connected` of its WatchManager. */
const WATCH_MANAGER_CONNECTED = 2;

/**
 * A list-then-watch cache of every key under one prefix.
 *
 * 1. **List** the prefix (paginated, all pages at one revision R).
 * 2. **Watch** from R + 1 and apply each event in order.
 * 3. After any stream error, cancellation, compaction or stall: **re-list, diff** against the map
 *    (emitting only real differences) and watch again from the new list revision + 1. The etcd3
 *    client's own resume bookmark is never trusted: it can skip events across a second disconnect.
 *
 * While etcd is unreachable the informer keeps its last map, reports `connected: false` and retries
 * with jittered backoff; it never empties the map because of a disconnect.
 */
export class PrefixInformer {
  private entries = new Map<string, InformerEntry>();
  private revision = 0;
  private cachedSnapshot: InformerSnapshot | undefined;
  private readonly changesSubject = new Subject<InformerChange>();
  private readonly resyncsSubject = new Subject<InformerResync>();
  private readonly stateSubject = new BehaviorSubject<InformerState>({
    connected: false,
    synced: false,
    revision: 0,
  });
  private readonly sleeper = new Sleeper();
  private readonly logger = new Logger('EtcdInformer');
  private running: Promise<void> | undefined;
  private stopped = false;
  private stopWatch: (() => void) | undefined;
  private readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private listing = false;
  private outageLogged = false;
  private lastErrorValue: unknown;

  /** Every change, in revision order, as it is applied. */
  readonly changes$: Observable<InformerChange> = this.changesSubject.asObservable();
  /** One event per re-list after the first (reconnect, compaction, stall), after its changes. */
  readonly resyncs$: Observable<InformerResync> = this.resyncsSubject.asObservable();
  /** Connection state; replays the current state to new subscribers. */
  readonly state$: Observable<InformerState> = this.stateSubject.asObservable();
  /** `true` while the watch is healthy; replays the current value; no repeats. */
  readonly connected$: Observable<boolean> = this.state$.pipe(
    map(state => state.connected),
    distinctUntilChanged(),
  );

  constructor(
    private readonly kv: Namespace,
    /** The watched prefix (inside the client's namespace). */
    readonly prefix: string,
    private readonly options: InformerOptions,
  ) {
    this.readyPromise = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // A caller that never awaits ready() must not see an unhandled rejection when it is stopped.
    this.readyPromise.catch(() => undefined);
  }

  /** The current state. */
  get state(): InformerState {
    return this.stateSubject.getValue();
  }

  /**
   * An immutable copy of the map (copied lazily, once per change): later changes never alter a
   * snapshot already handed out.
   */
  get snapshot(): InformerSnapshot {
    this.cachedSnapshot ??= Object.freeze({
      prefix: this.prefix,
      revision: this.revision,
      entries: new Map(this.entries),
    });
    return this.cachedSnapshot;
  }

  /** The entry of one key, without copying the map. */
  get(key: string): InformerEntry | undefined {
    return this.entries.get(key);
  }

  /** The last error that broke a list or watch (cleared by the next successful list). */
  get lastError(): unknown {
    return this.lastErrorValue;
  }

  /** Number of keys held. */
  get size(): number {
    return this.entries.size;
  }

  /** Starts listing and watching (idempotent). Does not wait; see {@link ready}. */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = this.run();
  }

  /** Resolves once the first list succeeded; rejects when the informer is stopped before that. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /**
   * Stops the loop, cancels the watcher and completes the observables. Does not wait for a list
   * request still in flight (closing the client cancels it); its result is discarded.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.rejectReady(new EtcdStoppedError(`informer on "${this.prefix}"`, 'before its first list'));
    this.sleeper.cancel();
    this.stopWatch?.();
    if (!this.listing) await this.running;
    this.stateSubject.next({ ...this.state, connected: false, reason: 'stopped' });
    this.changesSubject.complete();
    this.resyncsSubject.complete();
    this.stateSubject.complete();
  }

  private async run(): Promise<void> {
    // Backoff attempt of failures (list errors, broken or canceled watches).
    let attempt = 0;
    // Compaction cancels in a row that delivered nothing: the first is answered at once, repeats back off.
    let quickCancels = 0;
    while (!this.stopped) {
      let end: WatchEnd | undefined;
      try {
        const listRevision = await this.list();
        if (this.stopped) break;
        end = await this.watchFrom(listRevision + 1);
      } catch (err) {
        if (this.stopped) break;
        this.lastErrorValue = err;
        this.markDisconnected(`list failed: ${describeCause(err)}`);
      }
      if (this.stopped || end?.reason === 'stopped') break;
      if (end?.acknowledged) attempt = 0;
      if (end?.reason === 'stalled') {
        // A watch etcd never acknowledged means the shared stream itself is dead: rebuild it.
        if (!end.acknowledged) this.resetStream();
        continue;
      }
      if (end?.reason === 'compacted') {
        quickCancels = end.delivered ? 0 : quickCancels + 1;
        if (quickCancels <= 1) continue;
        await this.sleeper.sleep(backoffDelay(quickCancels - 2, this.options.retry));
        continue;
      }
      quickCancels = 0;
      await this.sleeper.sleep(backoffDelay(attempt++, this.options.retry));
    }
  }

  /** Lists the prefix at one revision, applies the diff, returns the list revision. */
  private async list(): Promise<number> {
    const pageSize = this.options.pageSize ?? 5000;
    // A list is also the probe after a stall: bound it by the stall timeout (1 s to 10 s).
    const timeout =
      this.options.listTimeout ?? Math.min(10_000, Math.max(1_000, this.options.stallTimeout));
    const end = Range.prefix(this.prefix).end;
    const fresh = new Map<string, InformerEntry>();
    let start: Buffer = Buffer.from(this.prefix);
    let listRevision: number | undefined;
    this.listing = true;
    try {
      for (;;) {
        const builder = this.kv
          .getAll()
          .inRange(new Range(start, end))
          .limit(pageSize)
          .options({ deadline: Date.now() + timeout });
        if (listRevision !== undefined) builder.revision(listRevision);
        const res = await builder.exec();
        listRevision ??= Number(res.header.revision);
        let last: Buffer | undefined;
        for (const kv of res.kvs) {
          const entry = toEntry(kv);
          fresh.set(entry.key, entry);
          last = kv.key;
        }
        if (!res.more || !last) break;
        start = Buffer.concat([last, Buffer.from([0])]);
      }
    } finally {
      this.listing = false;
    }
    if (this.stopped) return listRevision;
    this.applyList(fresh, listRevision);
    return listRevision;
  }

  private applyList(fresh: Map<string, InformerEntry>, listRevision: number): void {
    const firstList = !this.state.synced;
    const changes: InformerChange[] = [];
    if (!firstList) {
      for (const [key, entry] of fresh) {
        const previous = this.entries.get(key);
        if (!previous || previous.modRevision !== entry.modRevision) {
          changes.push({
            type: 'put',
            key,
            entry,
            previous,
            revision: entry.modRevision,
            resync: true,
          });
        }
      }
      for (const [key, previous] of this.entries) {
        if (!fresh.has(key)) {
          changes.push({ type: 'delete', key, previous, revision: listRevision, resync: true });
        }
      }
      changes.sort((a, b) => a.revision - b.revision);
    }
    this.entries = fresh;
    this.revision = Math.max(this.revision, listRevision);
    this.lastErrorValue = undefined;
    this.cachedSnapshot = undefined;
    for (const change of changes) this.changesSubject.next(change);
    const wasDown = this.outageLogged;
    this.outageLogged = false;
    this.stateSubject.next({ connected: true, synced: true, revision: this.revision });
    if (!firstList) {
      this.resyncsSubject.next({
        prefix: this.prefix,
        revision: listRevision,
        changes: changes.length,
      });
    }
    if (firstList) {
      this.resolveReady();
    } else if (wasDown || changes.length > 0) {
      this.logger.log(
        `watch on "${this.prefix}" re-listed at revision ${listRevision}; ${changes.length} change(s) caught up`,
      );
    }
  }

  /** Watches from `startRevision` until the watch breaks; resolves with the reason. */
  private watchFrom(startRevision: number): Promise<WatchEnd> {
    return new Promise<WatchEnd>(resolve => {
      const watcher: Watcher = this.kv
        .watch()
        .prefix(this.prefix)
        .startRevision(String(startRevision))
        .withPreviousKV()
        .watcher();
      let lastActivity = Date.now();
      let done = false;
      let acknowledged = false;
      let delivered = false;

      const onConnected = () => {
        lastActivity = Date.now();
        acknowledged = true;
      };
      const onData = (res: IWatchResponse) => {
        // Events and progress notifications alike prove the stream alive.
        lastActivity = Date.now();
        if (done) return;
        for (const event of res.events) {
          if (this.applyEvent(event.type, event.kv, event.prev_kv, startRevision)) delivered = true;
        }
      };
      const onDisconnected = (err: unknown) => {
        this.lastErrorValue = err;
        this.markDisconnected(`watch stream broke: ${describeCause(err)}`);
        finish('disconnected', false);
      };
      // etcd canceled the watch. etcd3 has already dropped the watcher: cancelling it again would
      // send a cancel request whose answer etcd3 cannot route (it throws from the stream handler).
      const onError = (err: unknown) => {
        const message = describeCause(err);
        // A compaction cancel carries no reason ("Watcher canceled: "); newer etcd may name it.
        if (/compact/i.test(message) || /watcher canceled:\s*$/i.test(message)) {
          this.logger.warn(
            `watch on "${this.prefix}" from revision ${startRevision} was compacted; re-listing`,
          );
          finish('compacted', false);
        } else {
          this.lastErrorValue = err;
          this.markDisconnected(`watch canceled: ${message}`);
          finish('canceled', false);
        }
      };
      const checkInterval = Math.max(20, Math.min(5000, this.options.stallTimeout / 4));
      let probing = false;
      const stallTimer = setInterval(() => {
        if (done || probing || Date.now() - lastActivity <= this.options.stallTimeout) return;
        const message = `watch on "${this.prefix}" silent for over ${this.options.stallTimeout} ms`;
        if (!acknowledged) {
          this.logger.warn(`${message} and never acknowledged; rebuilding the stream`);
          finish('stalled', true);
          return;
        }
        // A quiet prefix is silent too (etcd's progress notifications are minutes apart). Rather
        // than re-list everything, ask etcd whether anything changed that the watch did not
        // deliver: a count and a keys-only range of newer keys, a few bytes whatever the prefix holds.
        probing = true;
        this.probeConsistent().then(
          consistent => {
            probing = false;
            if (done) return;
            if (consistent) {
              lastActivity = Date.now();
              this.logger.debug(
                `${message}; etcd agrees with revision ${this.revision}, keeping it`,
              );
            } else {
              this.logger.warn(`${message} but etcd has changes it did not deliver; rebuilding it`);
              finish('stalled', true);
            }
          },
          (err: unknown) => {
            probing = false;
            if (done) return;
            this.logger.debug(`${message}; probe failed (${describeCause(err)}); rebuilding it`);
            finish('stalled', true);
          },
        );
      }, checkInterval);
      stallTimer.unref();

      const finish = (reason: WatchEndReason, cancel: boolean) => {
        if (done) return;
        done = true;
        clearInterval(stallTimer);
        this.stopWatch = undefined;
        watcher.off('connected', onConnected);
        watcher.off('data', onData);
        watcher.off('disconnected', onDisconnected);
        watcher.off('error', onError);
        // Swallow anything the detached watcher still emits.
        watcher.on('error', () => undefined);
        // After a disconnect etcd3 is idle and cancel() only forgets the watcher.
        if (cancel || reason === 'disconnected') watcher.cancel().catch(() => undefined);
        resolve({ reason, acknowledged, delivered });
      };

      watcher.on('connected', onConnected);
      watcher.on('data', onData);
      watcher.on('disconnected', onDisconnected);
      watcher.on('error', onError);
      this.stopWatch = () => finish('stopped', true);
    });
  }

  /**
   * Applies one watch event. Events of one revision (a transaction, a range delete) share the
   * revision, so only events older than the watch start are dropped as already listed.
   * @returns whether a change was emitted
   */
  private applyEvent(
    type: 'Put' | 'Delete',
    kv: IKeyValue,
    prevKv: IKeyValue | undefined,
    startRevision: number,
  ): boolean {
    const key = kv.key.toString();
    const revision = Number(kv.mod_revision);
    if (revision < startRevision || revision < this.revision) return false;
    const previous = this.entries.get(key);
    let change: InformerChange;
    if (type === 'Put') {
      const entry = toEntry(kv);
      this.entries.set(key, entry);
      change = { type: 'put', key, entry, previous, revision, resync: false };
    } else {
      this.revision = revision;
      this.cachedSnapshot = undefined;
      if (!this.entries.delete(key) && !prevKv) return false;
      change = { type: 'delete', key, previous, revision, resync: false };
    }
    this.revision = revision;
    this.cachedSnapshot = undefined;
    if (!this.state.connected) {
      this.stateSubject.next({ connected: true, synced: true, revision });
    }
    this.changesSubject.next(change);
    return true;
  }

  /**
   * True when etcd's keys under the prefix match the map: the same number of keys, and none
   * modified after the informer's revision (the count and a keys-only range, both tiny). A missed put (new or updated key) shows as a newer
   * key, a missed delete as a smaller count.
   */
  private async probeConsistent(): Promise<boolean> {
    const timeout = Math.min(10_000, Math.max(1_000, this.options.stallTimeout));
    const options = () => ({ deadline: Date.now() + timeout });
    const total = await this.kv.getAll().prefix(this.prefix).options(options()).count();
    if (total !== this.entries.size) return false;
    // etcd applies mod-revision filters after counting, so ask for the (keys-only) keys themselves:
    // normally none.
    const newer = await this.kv
      .getAll()
      .prefix(this.prefix)
      .minModRevision(this.revision + 1)
      .options(options())
      .keyBuffers();
    return newer.length === 0;
  }

  /**
   * Rebuilds etcd3's shared watch stream (every watcher on it gets `disconnected` and re-lists).
   * Used only when a new watch was not even acknowledged within the stall bound.
   */
  private resetStream(): void {
    const manager = (this.kv as unknown as { watchManager?: WatchManagerInternals }).watchManager;
    if (manager?.state === WATCH_MANAGER_CONNECTED && typeof manager.handleError === 'function') {
      this.logger.warn(`watch stream unresponsive; rebuilding it`);
      manager.handleError(new EtcdWatchStalledError());
    }
  }

  private markDisconnected(reason: string): void {
    // Before the first list there is nothing being served: whoever awaits ready() reports that
    // failure (e.g. the config center's one "booting from snapshot" line).
    if (!this.outageLogged && !this.stopped && this.state.synced) {
      this.outageLogged = true;
      this.logger.warn(
        `watch on "${this.prefix}" lost (${reason}); serving the last ${this.entries.size} key(s) at revision ${this.revision} and retrying`,
      );
    }
    if (this.state.connected || this.state.reason !== reason) {
      this.stateSubject.next({ ...this.state, connected: false, reason });
    }
  }
}

function toEntry(kv: IKeyValue): InformerEntry {
  return Object.freeze({
    key: kv.key.toString(),
    value: kv.value,
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
    version: Number(kv.version),
    lease: String(kv.lease),
  });
}
