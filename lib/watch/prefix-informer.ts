import { Logger } from '@nestjs/common';
import { BehaviorSubject, Observable, Subject, distinctUntilChanged, map } from 'rxjs';
import { backoffDelay } from '../common/backoff.js';
import { describeCause } from '../common/describe-cause.js';
import { EtcdAuthTokenExpiredError } from '../errors/etcd-auth-token-expired.error.js';
import { EtcdPermissionError } from '../errors/etcd-permission.error.js';
import { EtcdStoppedError } from '../errors/etcd-stopped.error.js';
import { printableKey } from './etcd-key.js';
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
import { WatchSession, type WatchEnd } from './watch-session.js';

/** Keys fetched per range request while listing. */
const PAGE_SIZE = 5000;

/** A watch lost again within this long (ms) of recovering is a flap of the same unstable link. */
const FLAP_WINDOW_MS = 30_000;

/** While a link flaps, at most one summary line per this long (ms). */
const FLAP_REPORT_MS = 60_000;

/** What the informer needs besides the port; tests pass a fake clock and a fixed jitter. @internal */
export interface InformerDependencies {
  readonly clock?: InformerClock;
  /** Jitter source of the backoff, in [0, 1). */
  readonly random?: () => number;
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
  private readonly logger = new Logger('EtcdInformer');
  private readonly clock: InformerClock;
  private readonly transform: InformerEntryTransform | undefined;
  private readonly sink: InformerSink | undefined;
  private readonly random: () => number;
  private running: Promise<void> | undefined;
  private stopped = false;
  private session: WatchSession | undefined;
  private wake: (() => void) | undefined;
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private listing = false;
  private outageLogged = false;
  /** When the watch last recovered from a logged outage (clock ms). */
  private recoveredAt: number | undefined;
  /** Drops of a flapping link not yet reported, and since when they are counted. */
  private flaps = 0;
  private flapsSince = 0;
  private flapReportedAt = 0;
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
    this.wake?.();
    this.session?.stop();
    if (!this.listing) await this.running;
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
    while (!this.stopped) {
      let end: WatchEnd | undefined;
      try {
        const listRevision = await this.list();
        if (this.stopped) break;
        end = await this.watchFrom(listRevision + 1);
      } catch (err) {
        if (this.stopped) break;
        this.lastErrorValue = err;
        if (!this.state.synced && err instanceof EtcdPermissionError) this.refused(err);
        this.markDisconnected(`list failed: ${describeCause(err)}`);
      }
      if (this.stopped || end?.reason === 'stopped') break;
      if (end?.acknowledged) attempt = 0;
      if (end?.reason === 'broken' || end?.reason === 'canceled') {
        this.lastErrorValue = end.error;
        const what = end.reason === 'broken' ? 'watch stream broke' : 'watch canceled';
        // Transport hook: etcd's auth token expired and the transport reopens the stream with a
        // new one. Routine, not an outage: re-list and re-watch without a warning.
        const routine = end.error instanceof EtcdAuthTokenExpiredError;
        this.markDisconnected(`${what}: ${describeCause(end.error)}`, routine);
      }
      if (end?.reason === 'stalled') {
        // A watch etcd never acknowledged means the shared stream itself is dead: rebuild it.
        if (!end.acknowledged) {
          this.logger.warn(`watch stream unresponsive; rebuilding it`);
          this.port.resetStream();
        }
        continue;
      }
      if (end?.reason === 'compacted') {
        quickCancels = end.delivered ? 0 : quickCancels + 1;
        if (quickCancels <= 1) continue;
        await this.sleep(backoffDelay(quickCancels - 2, this.options.retry, this.random));
        continue;
      }
      quickCancels = 0;
      await this.sleep(backoffDelay(attempt++, this.options.retry, this.random));
    }
  }

  /** Watches from `startRevision` until the watch ends. */
  private watchFrom(startRevision: number): Promise<WatchEnd> {
    const session = new WatchSession(
      this.port,
      this.prefix,
      startRevision,
      {
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
    const timeout = this.requestTimeout();
    const fresh = new Map<string, InformerEntry>();
    let startAfter: string | undefined;
    let listRevision: number | undefined;
    this.listing = true;
    try {
      for (;;) {
        const page = await this.port.listPage(this.prefix, {
          limit: PAGE_SIZE,
          revision: listRevision,
          startAfter,
          timeout,
        });
        listRevision ??= page.revision;
        for (const entry of page.entries) {
          const held = this.entries.get(entry.key);
          fresh.set(entry.key, this.transform ? this.transform(entry, held) : Object.freeze(entry));
        }
        const last = page.entries[page.entries.length - 1];
        if (!page.more || !last) break;
        startAfter = last.key;
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
    this.failureValue = undefined;
    this.cachedSnapshot = undefined;
    this.unsettled = false;
    try {
      for (const change of changes) this.emit(change);
    } finally {
      if (this.unsettled) this.sink?.settled();
    }
    const wasDown = this.outageLogged;
    this.outageLogged = false;
    if (wasDown) this.recoveredAt = this.clock.now();
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
    } else if (this.flaps > 0) {
      this.reportFlaps(listRevision);
    } else if (wasDown || changes.length > 0) {
      this.logger.log(
        `watch on "${this.prefix}" re-listed at revision ${listRevision}; ${changes.length} change(s) caught up`,
      );
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

  /** Waits `ms` (cut short by {@link stop}). */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>(resolve => {
      const done = () => {
        this.wake = undefined;
        resolve();
      };
      const cancel = this.clock.setTimer(done, ms);
      this.wake = () => {
        cancel();
        done();
      };
    });
  }

  /** After a recovery while the link flaps: one summary line a minute at most, else debug. */
  private reportFlaps(listRevision: number): void {
    const now = this.clock.now();
    if (now - this.flapReportedAt < FLAP_REPORT_MS) {
      this.logger.debug(`watch on "${this.prefix}" re-listed at revision ${listRevision}`);
      return;
    }
    this.logger.warn(
      `watch on "${this.prefix}" dropped ${this.flaps} more time(s) in the last ${Math.round((now - this.flapsSince) / 1000)} s ` +
        `(unstable link); every drop was caught up, now at revision ${listRevision}`,
    );
    this.flapReportedAt = now;
    this.flapsSince = now;
    this.flaps = 0;
  }

  private markDisconnected(reason: string, routine = false): void {
    // Before the first list there is nothing being served: whoever awaits ready() reports that
    // failure (e.g. the config center's one "booting from snapshot" line).
    if (!routine && !this.outageLogged && !this.stopped && this.state.synced) {
      this.outageLogged = true;
      const now = this.clock.now();
      if (this.recoveredAt !== undefined && now - this.recoveredAt < FLAP_WINDOW_MS) {
        // A flapping link: named once, then counted (one summary line a minute at most).
        if (this.flaps === 0 && now - this.flapReportedAt >= FLAP_REPORT_MS) {
          this.flapReportedAt = now;
          this.flapsSince = now;
          this.logger.warn(
            `watch on "${this.prefix}" lost again ${Math.round((now - this.recoveredAt) / 1000)} s after it recovered (${reason}): ` +
              `the link is unstable; serving the last ${this.entries.size} key(s) and retrying; further drops are counted, one line a minute`,
          );
        } else {
          if (this.flaps === 0) this.flapsSince = now;
          this.flaps++;
          this.logger.debug(`watch on "${this.prefix}" lost again (${reason})`);
        }
      } else {
        this.flaps = 0;
        this.logger.warn(
          `watch on "${this.prefix}" lost (${reason}); serving the last ${this.entries.size} key(s) at revision ${this.revision} and retrying`,
        );
      }
    }
    if (this.state.connected || this.state.reason !== reason) {
      this.setState({ ...this.state, connected: false, reason });
    }
  }
}
