import { Observable } from 'rxjs';
import type { InformerPool } from './informer-pool.js';
import { SETTLED, SYNCED } from './informer.interfaces.js';
import type { PrefixChange, PrefixSnapshot } from './prefix-watch.interfaces.js';
import type { PrefixInformer } from './prefix-informer.js';

/** One emission of {@link EtcdWatchService.watchPrefix}. */
export interface PrefixUpdate {
  /**
   * Every key under the prefix after `changes` were applied (immutable; keys are full etcd keys
   * inside the module's namespace; `snapshot.revision` is the revision of the last change applied).
   */
  readonly snapshot: PrefixSnapshot;
  /**
   * The changes applied since the previous emission, in revision order: none in the first
   * emission (the initial list), one or more after it (all events of one etcd transaction arrive
   * together; changes found by a re-list after an outage carry `resync: true`).
   */
  readonly changes: readonly PrefixChange[];
}

/**
 * Watches any etcd prefix with the same engine as the config center and the registry: list, then
 * watch from the list's revision, re-list and diff after any outage, compaction or stall. One etcd
 * watch per prefix however many subscribers (shared with the module's own watches of that prefix);
 * the watch stops when the last subscriber unsubscribes.
 *
 * @example
 * ```ts
 * @Injectable()
 * class FlagsService {
 *   constructor(private readonly watch: EtcdWatchService) {}
 *   flags$ = this.watch.watchPrefix('/flags/');
 * }
 * ```
 */
export class EtcdWatchService {
  /** @internal Created by EtcdModule; use injection. */
  constructor(private readonly informers: InformerPool) {}

  /**
   * Every key under `prefix` (inside the module's `namespace`): the current map first, once etcd
   * listed it, then a new {@link PrefixUpdate} after each batch of changes. While etcd is
   * unreachable it stays silent and keeps the last map (it never empties because of an outage),
   * then catches up with the missed changes. Errors with `EtcdPermissionError` when etcd refuses to
   * list the prefix; completes when the module shuts down.
   *
   * Keys are bytes in etcd: a key that is valid UTF-8 is its text; any byte that is not part of
   * valid UTF-8 appears as the lone surrogate `U+DC00 + byte`, so distinct keys never collide.
   */
  watchPrefix(prefix: string): Observable<PrefixUpdate> {
    if (typeof prefix !== 'string' || prefix.length === 0) {
      throw new TypeError(`watchPrefix() needs a non-empty prefix, got ${JSON.stringify(prefix)}`);
    }
    return this.informers.observe(prefix, informer => updatesOf(informer));
  }
}

/** The informer's map, then one update per batch of changes applied in one go. */
function updatesOf(informer: PrefixInformer): Observable<PrefixUpdate> {
  return new Observable<PrefixUpdate>(subscriber => {
    let pending: PrefixChange[] = [];
    const flush = () => {
      const changes = pending;
      pending = [];
      if (changes.length > 0 && !subscriber.closed) {
        subscriber.next({ snapshot: informer.snapshot, changes });
      }
    };
    return informer.view$.subscribe({
      next: event => {
        // The first emission is the whole map.
        if (event === SYNCED) return subscriber.next({ snapshot: informer.snapshot, changes: [] });
        // One update per synchronous run, not per revision: a response replaying many revisions
        // is one snapshot.
        if (event === SETTLED) return;
        // Changes applied in one synchronous run (one watch response, one re-list) go out together.
        if (pending.length === 0) queueMicrotask(flush);
        pending.push(event);
      },
      complete: () => {
        flush();
        subscriber.complete();
      },
    });
  });
}
