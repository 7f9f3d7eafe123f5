import { Logger } from '@nestjs/common';
import { BehaviorSubject, type Observable, Subject, distinctUntilChanged, map } from 'rxjs';
import { describeCause } from '../common/describe-cause.js';
import { EtcdPermissionError } from '../errors/etcd-permission.error.js';
import { EtcdStoppedError } from '../errors/etcd-stopped.error.js';
import { printableKey } from './etcd-key.js';
import { InformerLoop, requestTimeout } from './informer-loop.js';
import { listPrefix, relistChanges } from './informer-relist.js';
import {
  systemClock,
  type InformerClock,
  type InformerPort,
  type WatchEvent,
} from './informer-port.interface.js';
import type {
  InformerDependencies,
  InformerSetup,
  InformerChange,
  InformerEntry,
  InformerEntryTransform,
  InformerOptions,
  InformerResync,
  InformerSnapshot,
  InformerState,
  InformerViewEvent,
} from './informer.interfaces.js';
import { followView } from './informer-view.js';
import { WatchOutages } from './watch-outages.js';

/**
 * A list-then-watch cache of every key under one prefix: the map (kept current by
 * {@link InformerLoop}: list, watch, resume, re-list and diff), the lists and events applied to it,
 * and what it publishes (`view$`, `state$`, `changes$`, `resyncs$`).
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
  /** The ends of batches of changes (`view$`'s `SETTLED`). */
  private readonly settlesSubject = new Subject<void>();
  private readonly stateSubject = new BehaviorSubject<InformerState>({
    connected: false,
    synced: false,
    revision: 0,
  });
  private readonly logger = new Logger('EtcdInformer');
  private readonly clock: InformerClock;
  private readonly transform: InformerEntryTransform | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly loop: InformerLoop;
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private listing = false;
  private readonly outages: WatchOutages;
  /** This informer's id in {@link outages} (while started). */
  private outageId: number | undefined;
  private lastErrorValue: unknown;
  /** `state.connected`, as a plain field. */
  private live = false;
  /** Changes were emitted since the last settle. */
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
   * change as it is applied, each batch of them ended by `SETTLED` (the end of a watch response or
   * re-list, and of each revision inside one). Completes when the informer stops.
   */
  readonly view$: Observable<InformerViewEvent> = followView(
    this.changes$,
    this.state$,
    this.settlesSubject,
  );

  constructor(
    private readonly port: InformerPort,
    /** The watched prefix (inside the client's namespace). */
    readonly prefix: string,
    private readonly options: InformerOptions,
    dependencies: InformerDependencies = {},
    setup: InformerSetup = {},
  ) {
    this.transform = setup.transform;
    this.clock = dependencies.clock ?? systemClock;
    this.outages = dependencies.outages ?? new WatchOutages(this.clock, this.logger);
    this.loop = new InformerLoop(
      {
        prefix,
        isStopped: () => this.stopped,
        list: () => this.list(),
        appliedRevision: () => this.revision,
        acknowledged: () => this.onAcknowledged(),
        apply: (events, start) => this.applyEvents(events, start),
        keyCount: () => this.entries.size,
        listFailed: err => this.listFailed(err),
        interrupted: (error, reason, routine) => {
          this.lastErrorValue = error;
          this.markDisconnected(reason, routine);
        },
        rebuildStream: () => {
          this.logger.warn(`watch stream unresponsive; rebuilding it`);
          this.port.resetStream();
        },
      },
      {
        clock: this.clock,
        random: dependencies.random ?? Math.random,
        outages: this.outages,
        retry: options.retry,
        port,
        stallTimeout: options.stallTimeout,
        logger: this.logger,
      },
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
    this.running = this.loop.run(this.outageId);
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
    this.loop.stop();
    if (!this.listing) await this.running;
    if (this.outageId !== undefined) this.outages.unregister(this.outageId);
    this.setState({ ...this.state, connected: false, reason: 'stopped' });
    this.changesSubject.complete();
    this.settlesSubject.complete();
    this.resyncsSubject.complete();
    this.stateSubject.complete();
  }

  /** A list failed (or a watch could not start): a refused first list is a failure; disconnected. */
  private listFailed(err: unknown): void {
    this.lastErrorValue = err;
    if (!this.state.synced && err instanceof EtcdPermissionError) this.refused(err);
    this.markDisconnected(`list failed: ${describeCause(err)}`);
  }

  /** Lists the prefix at one revision, applies the diff, returns the list revision. */
  private async list(): Promise<number> {
    const transform = this.transform;
    this.listing = true;
    let listed: Awaited<ReturnType<typeof listPrefix>>;
    try {
      listed = await listPrefix(
        this.port,
        this.prefix,
        requestTimeout(this.options.stallTimeout),
        entry => (transform ? transform(entry, this.entries.get(entry.key)) : Object.freeze(entry)),
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
      if (this.unsettled) this.settle();
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
      if (this.unsettled) this.settle();
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
      // A newer revision: the one before ends while the map still holds it (a response replaying
      // missed revisions carries several; each is a batch of its own).
      if (this.unsettled && revision > this.revision) this.settle();
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

  /** Tells `changes$`'s subscribers (`view$`'s among them), if any, of one applied change. */
  private emit(change: InformerChange): void {
    this.unsettled = true;
    if (this.changesSubject.observed) this.changesSubject.next(change);
  }

  /** Ends the batch of changes emitted since the last settle (`view$` emits `SETTLED`). */
  private settle(): void {
    this.unsettled = false;
    if (this.settlesSubject.observed) this.settlesSubject.next();
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
