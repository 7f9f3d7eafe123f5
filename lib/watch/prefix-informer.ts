import { Logger } from '@nestjs/common';
import { BehaviorSubject, Observable, Subject, distinctUntilChanged, map } from 'rxjs';
import { spreadBackoffDelay } from '../common/backoff.js';
import { describeCause } from '../common/describe-cause.js';
import { EtcdAuthTokenExpiredError } from '../errors/etcd-auth-token-expired.error.js';
import { EtcdPermissionError } from '../errors/etcd-permission.error.js';
import { EtcdStoppedError } from '../errors/etcd-stopped.error.js';
import { printableKey } from './etcd-key.js';
import { InformerBackoff } from './informer-backoff.js';
import { listPrefix, relistChanges } from './informer-relist.js';
import {
  systemClock,
  type InformerClock,
  type InformerPort,
  type WatchEvent,
} from './informer-port.interface.js';
import type {
  InformerChange,
  InformerEntry,
  InformerEntryTransform,
  InformerOptions,
  InformerResync,
  InformerSink,
  InformerSnapshot,
  InformerState,
  InformerViewEvent,
} from './informer.interfaces.js';
import { SYNCED } from './informer.interfaces.js';
import { FLAP_WINDOW_MS, WatchOutages } from './watch-outages.js';
import { WatchSession, type WatchEnd } from './watch-session.js';

/**
 * A watch that stayed acknowledged this long (ms) was healthy: the next failure backs off from the
 * first step again (client-go resets its reflector's backoff after a healthy period too). Shorter
 * lives keep climbing, so a flapping link is not hammered.
 */
const BACKOFF_RESET_MS = FLAP_WINDOW_MS;

/** What the informer needs besides the port; tests pass a fake clock and a fixed jitter. @internal */
export interface InformerDependencies {
  readonly clock?: InformerClock;
  /** Jitter source of the backoff, in [0, 1). */
  readonly random?: () => number;
  /**
   * The outage log shared by every informer of the app (the pool's): one line per outage, not one
   * per watch. An informer without one logs its own outages.
   */
  readonly outages?: WatchOutages;
}

/** What one informer keeps, besides its prefix. @internal */
export interface InformerSetup {
  /** Applied to every entry before it enters the map (see {@link InformerEntryTransform}). */
  readonly transform?: InformerEntryTransform;
  /** Told of each change as it is applied (see {@link InformerSink}). */
  readonly sink?: InformerSink;
}

/**
 * A list-then-watch cache of every key under one prefix.
 *
 * 1. **List** the prefix (paginated, all pages at one revision R).
 * 2. **Watch** from R + 1 and apply each event in order.
 * 3. After a stream error or a cancellation: **resume**, a new watch from the revision of the last
 *    event applied + 1 (etcd replays what was missed, in order), after a jittered backoff
 *    (client-go's reflector: the base doubles from `retry.initialDelay` to `retry.maxDelay`, jitter
 *    factor 1.0). The etcd3 client's own resume bookmark is never trusted: it can skip events across
 *    a second disconnect; the informer's revision is what it applied itself.
 * 4. When etcd answers that the revision was **compacted**, or a stall probe shows the watch missed
 *    changes: **re-list, diff** against the map (emitting only real differences) and watch again
 *    from the new list revision + 1.
 *
 * While etcd is unreachable the informer keeps its last map, reports `connected: false` and retries;
 * it never empties the map because of a disconnect. Outages are logged once per app
 * ({@link WatchOutages}), not once per watch.
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
  private readonly logger = new Logger('EtcdInformer');
  private readonly clock: InformerClock;
  private readonly transform: InformerEntryTransform | undefined;
  private readonly sink: InformerSink | undefined;
  private readonly random: () => number;
  private running: Promise<void> | undefined;
  private stopped = false;
  private session: WatchSession | undefined;
  private readonly backoff: InformerBackoff;
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private listing = false;
  private readonly outages: WatchOutages;
  /** This informer's id in {@link outages} (while started). */
  private outageId: number | undefined;
  /** When the current watch was acknowledged (clock ms). */
  private acknowledgedAt: number | undefined;
  private lastErrorValue: unknown;
  /** `state.connected`, as a plain field. */
  private live = false;
  /** Changes were told to the sink since it last heard `settled()`. */
  private unsettled = false;
  private failureValue: Error | undefined;

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
  /**
   * "Wait until synced, then follow changes": {@link SYNCED} once the first list is in the map (at
   * once when it already is; read the map then with {@link current} or {@link snapshot}), then every
   * change as it is applied. Completes when the informer stops.
   */
  readonly view$: Observable<InformerViewEvent> = new Observable<InformerViewEvent>(subscriber => {
    let synced = false;
    const changes = this.changesSubject.subscribe({
      next: change => {
        if (synced) subscriber.next(change);
      },
      complete: () => subscriber.complete(),
    });
    const state = this.stateSubject.subscribe(current => {
      if (current.synced && !synced) {
        synced = true;
        subscriber.next(SYNCED);
      }
    });
    return () => {
      changes.unsubscribe();
      state.unsubscribe();
    };
  });

  constructor(
    private readonly port: InformerPort,
    /** The watched prefix (inside the client's namespace). */
    readonly prefix: string,
    private readonly options: InformerOptions,
    dependencies: InformerDependencies = {},
    setup: InformerSetup = {},
  ) {
    this.transform = setup.transform;
    this.sink = setup.sink;
    this.clock = dependencies.clock ?? systemClock;
    this.random = dependencies.random ?? Math.random;
    this.outages = dependencies.outages ?? new WatchOutages(this.clock, this.logger);
    this.backoff = new InformerBackoff(
      this.clock,
      this.random,
      this.outages,
      options.retry.initialDelay,
    );
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

  /**
   * The entries held now and the revision they are at, without copying the map (a {@link snapshot}
   * is a copy that the informer keeps until the next change: ≈ 46 bytes of heap per key). Consume
   * `entries` synchronously: it iterates the live map.
   */
  current(): { readonly revision: number; readonly entries: IterableIterator<InformerEntry> } {
    return { revision: this.revision, entries: this.entries.values() };
  }

  /** The entry of one key, without copying the map. */
  get(key: string): InformerEntry | undefined {
    return this.entries.get(key);
  }

  /** The last error that broke a list or watch (cleared by the next successful list). */
  get lastError(): unknown {
    return this.lastErrorValue;
  }

  /**
   * Set while etcd refuses the first list (permission denied); {@link ready} then rejects with it.
   * Cleared by a successful list.
   */
  get failure(): Error | undefined {
    return this.failureValue;
  }

  /** Number of keys held. */
  get size(): number {
    return this.entries.size;
  }

  /** Starts listing and watching (idempotent). Does not wait; see {@link ready}. */
  start(): void {
    if (this.running || this.stopped) return;
    this.outageId = this.outages.register();
    this.running = this.run();
  }

  /**
   * Resolves once the first list succeeded; rejects when the informer is stopped before that, or
   * with the {@link failure} when etcd refused it.
   */
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
    this.backoff.wake();
    this.session?.stop();
    if (!this.listing) await this.running;
    if (this.outageId !== undefined) this.outages.unregister(this.outageId);
    this.setState({ ...this.state, connected: false, reason: 'stopped' });
    this.changesSubject.complete();
    this.resyncsSubject.complete();
    this.stateSubject.complete();
  }

  private async run(): Promise<void> {
    // Backoff attempt of failures (list errors, broken or canceled watches).
    let attempt = 0;
    // Compaction cancels in a row that delivered nothing: the first is answered at once, repeats back off.
    let quickCancels = 0;
    // A list is needed first, and again only when a resume is impossible (compacted, missed changes).
    let needList = true;
    while (!this.stopped) {
      let end: WatchEnd | undefined;
      try {
        if (needList) {
          const listRevision = await this.list();
          needList = false;
          if (this.stopped) break;
          end = await this.watchFrom(listRevision + 1);
        } else {
          // Resume: etcd replays every event after the last one applied.
          end = await this.watchFrom(this.revision + 1);
        }
      } catch (err) {
        if (this.stopped) break;
        this.lastErrorValue = err;
        if (!this.state.synced && err instanceof EtcdPermissionError) this.refused(err);
        this.markDisconnected(`list failed: ${describeCause(err)}`);
      }
      if (this.stopped || end?.reason === 'stopped') break;
      if (
        end?.acknowledged &&
        this.acknowledgedAt !== undefined &&
        this.clock.now() - this.acknowledgedAt >= BACKOFF_RESET_MS
      ) {
        attempt = 0;
      }
      this.acknowledgedAt = undefined;
      if (end?.reason === 'broken' || end?.reason === 'canceled') {
        this.lastErrorValue = end.error;
        const what = end.reason === 'broken' ? 'watch stream broke' : 'watch canceled';
        // Transport hook: etcd's auth token expired and the transport reopens the stream with a
        // new one. Routine, not an outage: resume without a warning, and without a backoff.
        const routine = end.error instanceof EtcdAuthTokenExpiredError;
        this.markDisconnected(`${what}: ${describeCause(end.error)}`, routine);
        if (routine) continue;
      }
      if (end?.reason === 'stalled') {
        // A watch etcd never acknowledged means the shared stream itself is dead: rebuild it.
        if (!end.acknowledged) {
          this.logger.warn(`watch stream unresponsive; rebuilding it`);
          this.port.resetStream();
        }
        // The probe showed changes the watch did not deliver (or could not ask): re-list.
        needList = true;
        continue;
      }
      if (end?.reason === 'compacted') {
        this.outages.compacted(this.prefix, end.startRevision);
        needList = true;
        quickCancels = end.delivered ? 0 : quickCancels + 1;
        if (quickCancels <= 1) continue;
        await this.backoff.sleep(
          spreadBackoffDelay(quickCancels - 2, this.options.retry, this.random),
        );
        continue;
      }
      quickCancels = 0;
      await this.backoff.backOff(
        spreadBackoffDelay(attempt++, this.options.retry, this.random),
        this.outageId,
        () => this.stopped,
      );
    }
  }

  /** Watches from `startRevision` until the watch ends. */
  private watchFrom(startRevision: number): Promise<WatchEnd> {
    const session = new WatchSession(
      this.port,
      this.prefix,
      startRevision,
      {
        acknowledged: () => this.onAcknowledged(),
        apply: (events, start) => this.applyEvents(events, start),
        consistent: () => this.consistent(),
        currentRevision: () => this.revision,
      },
      { clock: this.clock, stallTimeout: this.options.stallTimeout, logger: this.logger },
    );
    this.session = session;
    return session.ended.finally(() => {
      if (this.session === session) this.session = undefined;
    });
  }

  /** Lists the prefix at one revision, applies the diff, returns the list revision. */
  private async list(): Promise<number> {
    const transform = this.transform;
    this.listing = true;
    let listed: Awaited<ReturnType<typeof listPrefix>>;
    try {
      listed = await listPrefix(this.port, this.prefix, this.requestTimeout(), entry =>
        transform ? transform(entry, this.entries.get(entry.key)) : Object.freeze(entry),
      );
    } finally {
      this.listing = false;
    }
    if (this.stopped) return listed.revision;
    this.applyList(listed.entries, listed.revision);
    return listed.revision;
  }

  private applyList(fresh: Map<string, InformerEntry>, listRevision: number): void {
    const firstList = !this.state.synced;
    const changes = firstList ? [] : relistChanges(this.entries, fresh, listRevision);
    this.entries = fresh;
    this.revision = Math.max(this.revision, listRevision);
    this.lastErrorValue = undefined;
    this.failureValue = undefined;
    this.cachedSnapshot = undefined;
    this.unsettled = false;
    try {
      for (const change of changes) this.emit(change);
    } finally {
      if (this.unsettled) this.sink?.settled();
    }
    this.setState({ connected: true, synced: true, revision: this.revision });
    if (!firstList) {
      this.resyncsSubject.next({
        prefix: this.prefix,
        revision: listRevision,
        changes: changes.length,
      });
    }
    if (firstList) {
      this.resolveReady();
    } else if (this.outageId !== undefined && this.outages.isLost(this.outageId)) {
      this.outages.markRecovered(this.outageId, {
        prefix: this.prefix,
        how: 're-listed',
        revision: listRevision,
        changes: changes.length,
      });
    } else if (changes.length > 0) {
      this.logger.log(
        `watch on "${this.prefix}" re-listed at revision ${listRevision}; ${changes.length} change(s) caught up`,
      );
    }
  }

  /**
   * etcd acknowledged a new watch: the informer is connected again (a resume needs no list). A
   * resume from a compacted revision is then canceled by etcd and re-listed.
   */
  private onAcknowledged(): void {
    this.acknowledgedAt = this.clock.now();
    if (this.live || !this.state.synced || this.stopped) return;
    this.lastErrorValue = undefined;
    this.failureValue = undefined;
    this.setState({ connected: true, synced: true, revision: this.revision });
    if (this.outageId !== undefined && this.outages.isLost(this.outageId)) {
      this.outages.markRecovered(this.outageId, {
        prefix: this.prefix,
        how: 'resumed',
        revision: this.revision,
        changes: 0,
      });
    }
  }

  /**
   * Applies the events of one watch response, in order. Events of one revision (a transaction, a
   * range delete) share the revision, so only events older than the watch start (or than what was
   * applied) are dropped as already listed. A delete of a key the map does not hold changes nothing.
   * @returns whether a change was emitted
   */
  private applyEvents(events: readonly WatchEvent[], startRevision: number): boolean {
    this.unsettled = false;
    try {
      return this.applyEach(events, startRevision);
    } finally {
      // Even when a consumer threw half-way: the changes already told end their batch.
      if (this.unsettled) this.sink?.settled();
    }
  }

  private applyEach(events: readonly WatchEvent[], startRevision: number): boolean {
    let emitted = false;
    // Indexed loops, plain fields: this path runs cold (a config change is rare), in V8's
    // interpreter, where iterators and getters cost.
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const key = event.type === 'put' ? event.entry.key : event.key;
      const revision = event.type === 'put' ? event.entry.modRevision : event.revision;
      if (revision < startRevision || revision < this.revision) continue;
      this.revision = revision;
      this.cachedSnapshot = undefined;
      const previous = this.entries.get(key);
      let change: InformerChange;
      if (event.type === 'put') {
        const entry = this.transform
          ? this.transform(event.entry, previous)
          : Object.freeze(event.entry);
        this.entries.set(key, entry);
        change = { type: 'put', key, entry, previous, revision, resync: false };
      } else {
        if (!previous) continue;
        this.entries.delete(key);
        change = { type: 'delete', key, previous, revision, resync: false };
      }
      if (!this.live) this.setState({ connected: true, synced: true, revision });
      this.emit(change);
      emitted = true;
    }
    return emitted;
  }

  /** Publishes a new state (and keeps `live` in step: the per-event check reads no getter). */
  private setState(state: InformerState): void {
    this.live = state.connected;
    this.stateSubject.next(state);
  }

  /** Tells the sink, then `changes$`'s subscribers (if any), of one applied change. */
  private emit(change: InformerChange): void {
    this.unsettled = true;
    this.sink?.changed(change);
    if (this.changesSubject.observed) this.changesSubject.next(change);
  }

  /**
   * True when etcd's keys under the prefix match the map: the same number of keys, and none
   * modified after the informer's revision. A missed put (new or updated key) shows as a newer key,
   * a missed delete as a smaller count.
   */
  private async consistent(): Promise<boolean> {
    const probe = await this.port.probe(this.prefix, this.revision, this.requestTimeout());
    return probe.count === this.entries.size && probe.newer === 0;
  }

  /** Deadline of a list page or a probe: the stall bound, within 1 s to 10 s. */
  private requestTimeout(): number {
    return Math.min(10_000, Math.max(1_000, this.options.stallTimeout));
  }

  /**
   * etcd refused the first list (permission denied): nothing can be served, so whoever waits for
   * it hears at once. The informer keeps retrying with backoff (a role may be granted later).
   */
  private refused(err: EtcdPermissionError): void {
    if (!this.failureValue) {
      this.logger.warn(`watch on "${printableKey(this.prefix)}" refused: ${err.message}`);
    }
    this.failureValue = err;
    this.rejectReady(err);
  }

  private markDisconnected(reason: string, routine = false): void {
    // Before the first list there is nothing being served: whoever awaits ready() reports that
    // failure (e.g. the config center's one "booting from snapshot" line).
    if (!routine && !this.stopped && this.state.synced && this.outageId !== undefined) {
      this.outages.markLost(this.outageId, {
        prefix: this.prefix,
        reason,
        keys: this.entries.size,
        revision: this.revision,
      });
    }
    if (this.state.connected || this.state.reason !== reason) {
      this.setState({ ...this.state, connected: false, reason });
    }
  }
}
