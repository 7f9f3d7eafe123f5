import type { InformerClock } from './informer-port.interface.js';
import type { PrefixChange, PrefixEntry, PrefixSnapshot } from './prefix-watch.interfaces.js';
import type { WatchOutages } from './watch-outages.js';

/** One key as the informer holds it (the public {@link PrefixEntry}). */
export type InformerEntry = PrefixEntry;

/** One change applied to the informer's map (the public {@link PrefixChange}). */
export type InformerChange = PrefixChange;

/** An immutable copy of the informer's map at a revision (the public {@link PrefixSnapshot}). */
export type InformerSnapshot = PrefixSnapshot;

/**
 * Turns each entry into the form the informer keeps (in the spirit of client-go's
 * `SetTransform`): called once per key revision, with the entry it replaces, before the entry enters
 * the map. The result must keep `key` and `modRevision`. @internal
 */
export type InformerEntryTransform = (
  entry: InformerEntry,
  previous: InformerEntry | undefined,
) => InformerEntry;

/** The first event of `PrefixInformer.view$`: the first list is in the map. */
export const SYNCED = 'synced';

/**
 * The marker `PrefixInformer.view$` emits when the changes since the last one are complete and the
 * map holds the state they lead to: at the end of each watch response and each re-list that changed
 * something, and inside a watch response before the first change of a newer revision (a response
 * replaying missed revisions settles once per revision, so a follower that batches by revision
 * reads each revision's own state).
 */
export const SETTLED = 'settled';

/**
 * What `PrefixInformer.view$` emits: {@link SYNCED} once, then each change as it is applied, each
 * batch of them ended by {@link SETTLED}. @internal
 */
export type InformerViewEvent = typeof SYNCED | typeof SETTLED | InformerChange;

/** One re-list after the first (after a reconnect, a compaction or a stall), as counted by metrics. */
export interface InformerResync {
  /** The informer's prefix (inside the module's namespace). */
  readonly prefix: string;
  /** The revision of the re-list. */
  readonly revision: number;
  /** How many changes the diff found (0 when nothing was missed). */
  readonly changes: number;
}

/** Connection state of one informer. */
export interface InformerState {
  /** True while a watch is established (or a list just succeeded). */
  readonly connected: boolean;
  /** True once the first list succeeded: the snapshot is meaningful. */
  readonly synced: boolean;
  /** Revision of the last list or event applied (0 before the first list). */
  readonly revision: number;
  /** Why the informer is disconnected, when it is. */
  readonly reason?: string;
}

/** Timing knobs of an informer. */
export interface InformerOptions {
  /** Silence (ms) after which a watch is treated as broken. */
  stallTimeout: number;
  /** Backoff of re-list attempts while etcd does not answer. */
  retry: { initialDelay: number; maxDelay: number };
}

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
}
