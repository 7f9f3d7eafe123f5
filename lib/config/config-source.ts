import { type Observable, combineLatest, defer, distinctUntilChanged, map, of } from 'rxjs';
import type { InformerHandle, InformerPool } from '../watch/informer-pool.js';
import type { InformerChange, InformerSink } from '../watch/informer.interfaces.js';
import type { ConfigStore } from './config-store.js';

/**
 * One watched source prefix (a shared prefix or the app's own), and the sink of its informer: each
 * change goes straight into the store, and each watch response ends its batch, so a change reaches
 * the app's ConfigValue within the turn it arrived in.
 * @internal
 */
export class ConfigSource implements InformerSink {
  /** Its own informer (pinned, with the store's transform and this sink). */
  readonly handle: InformerHandle;
  synced = false;
  /** Revision of the last listing or change the informer delivered. */
  revision = 0;

  constructor(
    readonly prefix: string,
    informers: InformerPool,
    private readonly store: ConfigStore,
    /** The end of each watch response (after the store's batch). */
    private readonly onSettled: () => void,
  ) {
    this.handle = informers.acquire(prefix, {
      pinned: true,
      transform: store.transformFor(prefix),
      sink: this,
    });
  }

  /**
   * Hands the informer's first listing to the store once it has synced, then calls `onSynced`.
   * @returns the subscription to end when the config center stops.
   */
  follow(onSynced: () => void): { unsubscribe(): void } {
    const informer = this.handle.informer;
    return informer.state$.subscribe(state => {
      if (!state.synced || this.synced) return;
      this.synced = true;
      // The store reads the informer's live map (never `informer.snapshot`, a copy).
      this.revision = Math.max(this.revision, state.revision);
      this.store.synced(this.prefix, informer, state.revision);
      onSynced();
    });
  }

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

/** The config center's watched sources (the shared prefixes, then its own), as one. @internal */
export class ConfigSources {
  private readonly all: ConfigSource[] = [];

  /** `true` while every config watch is healthy; replays the current value. */
  readonly connected$: Observable<boolean> = defer(() =>
    this.all.length === 0
      ? of(false)
      : combineLatest(this.all.map(source => source.handle.informer.connected$)).pipe(
          map(states => states.every(Boolean)),
        ),
  ).pipe(distinctUntilChanged());

  /** Whether every source has synced (vacuously true with none). */
  get synced(): boolean {
    return this.all.every(source => source.synced);
  }

  /** The newest revision any source delivered (0 before any). */
  get revision(): number {
    return Math.max(0, ...this.all.map(source => source.revision));
  }

  /** Why the first source not synced yet failed to list or watch, if it did. */
  get lastError(): unknown {
    return this.all.find(source => !source.synced)?.handle.informer.lastError;
  }

  add(source: ConfigSource): void {
    this.all.push(source);
  }

  /** Settles when every source's informer is ready. */
  ready(): Promise<unknown> {
    return Promise.all(this.all.map(source => source.handle.informer.ready()));
  }

  /** Releases every source's informer. */
  release(): void {
    for (const source of this.all) source.handle.release();
  }
}
