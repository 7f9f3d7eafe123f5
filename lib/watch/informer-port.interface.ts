import type { Clock } from '../common/clock.js';
import type { InformerEntry } from './informer.interfaces.js';

/**
 * The narrow port the informer stands on: list a page, watch from a revision, probe, and (for a dead
 * stream) reset it. The real one adapts the etcd3 client (see `etcd-informer-port.ts`); unit tests
 * use a fake. Every key is named as {@link decodeKey} names it (exact bytes, readable when UTF-8).
 * @internal
 */
export interface InformerPort {
  /**
   * One page of the keys under `prefix`, in key order, after `startAfter` (exclusive) when given, at
   * `revision` when given (else the current one, whose number the page reports).
   */
  listPage(prefix: string, request: ListPageRequest): Promise<ListPage>;
  /**
   * Starts a watch of `prefix` from `startRevision` (with previous values). The listener is called
   * until the stream breaks, etcd cancels the watch, or the returned handle is closed.
   */
  watch(prefix: string, startRevision: number, listener: WatchListener): WatchHandle;
  /**
   * How many keys are under `prefix`, and how many of them were modified after `afterRevision` (keys
   * only): what the stall check compares with its map.
   */
  probe(prefix: string, afterRevision: number, timeout: number): Promise<ProbeResult>;
  /**
   * Rebuilds the transport's shared watch stream (every watch on it breaks and is re-listed). Used
   * only when a new watch was not even acknowledged within the stall bound.
   */
  resetStream(): void;
}

/** @internal */
export interface ListPageRequest {
  /** Page size (number of keys). */
  readonly limit: number;
  /** Revision to read at (all pages after the first use the first page's revision). */
  readonly revision?: number;
  /** List keys strictly after this one (the last key of the previous page). */
  readonly startAfter?: string;
  /** Deadline of the request (ms). */
  readonly timeout: number;
}

/** @internal */
export interface ListPage {
  /** The revision the page was read at (the store's revision for the first page). */
  readonly revision: number;
  readonly entries: readonly InformerEntry[];
  /** True when more keys follow the last one of this page. */
  readonly more: boolean;
}

/** @internal */
export interface ProbeResult {
  /** Keys under the prefix now. */
  readonly count: number;
  /** Keys under the prefix modified after the asked revision. */
  readonly newer: number;
}

/** One event of a watch response. @internal */
export type WatchEvent =
  | { readonly type: 'put'; readonly entry: InformerEntry }
  | {
      readonly type: 'delete';
      readonly key: string;
      /** The revision of the delete. */
      readonly revision: number;
    };

/**
 * What a watch reports. After `broken` or `canceled` nothing more is called.
 * @internal
 */
export interface WatchListener {
  /** etcd acknowledged the watch (created response). */
  acknowledged(): void;
  /** One watch response, events in order (empty for a progress notification). */
  events(events: readonly WatchEvent[]): void;
  /** The stream broke (connection lost, reset, keep-alive timeout). */
  broken(err: unknown): void;
  /** etcd canceled the watch (compaction, permission, invalid auth token...). */
  canceled(err: unknown): void;
}

/** @internal */
export interface WatchHandle {
  /**
   * Stops listening. `cancel`: also ask etcd to cancel the watch (not after etcd canceled it
   * itself, which the port knows).
   */
  close(options: { cancel: boolean }): void;
}

/**
 * Time as the informer sees it (the module's one {@link Clock}: monotonic `now()`, so the stall
 * detector and the backoff never follow a step of the wall clock); unit tests pass a fake one.
 * @internal
 */
export type InformerClock = Pick<Clock, 'now' | 'setTimer'>;

/** The clock of the real world. @internal */
export { systemClock } from '../common/clock.js';
