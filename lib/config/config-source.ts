import { type Observable, combineLatest, defer, distinctUntilChanged, map, of } from 'rxjs';
import type { InformerHandle, InformerPool } from '../watch/informer-pool.js';
import { SETTLED, SYNCED } from '../watch/informer.interfaces.js';
import type { ConfigStore } from './config-store.js';

/**
 * One watched source prefix (a shared prefix or the app's own) and its own informer, followed
 * through `view$` like every informer: the first list goes to the store at once, each change goes
 * straight into the store as the map applies it, and each `SETTLED` ends the store's batch, so a
 * change reaches the app's ConfigValue within the turn it arrived in.
 * @internal
 */
export class ConfigSource {
  /** Its own informer (pinned, with the store's transform). */
  readonly handle: InformerHandle;
  synced = false;
  /** Revision of the last listing or change the informer delivered. */
  revision = 0;

  constructor(
    readonly prefix: string,
    informers: InformerPool,
    private readonly store: ConfigStore,
    /** The end of each batch of changes (after the store's batch). */
    private readonly onSettled: () => void,
  ) {
    this.handle = informers.acquire(prefix, {
      pinned: true,
      transform: store.transformFor(prefix),
    });
  }

  /**
   * Follows the informer: hands its first listing to the store once it has synced (then calls
   * `onSynced`), then every change and the end of every batch.
   * @returns the subscription to end when the config center stops.
   */
  follow(onSynced: () => void): { unsubscribe(): void } {
    const informer = this.handle.informer;
    return informer.view$.subscribe(event => {
      if (event === SYNCED) {
        this.synced = true;
        // The store reads the informer's live map (never `informer.snapshot`, a copy).
        const revision = informer.state.revision;
        this.revision = Math.max(this.revision, revision);
        this.store.synced(this.prefix, informer, revision);
        onSynced();
      } else if (event === SETTLED) {
        this.store.flush();
        this.onSettled();
      } else {
        this.revision = Math.max(this.revision, event.revision);
        this.store.changed(event);
      }
    });
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
