import type {
  InformerPort,
  ListPage,
  ListPageRequest,
  ProbeResult,
  WatchEvent,
  WatchHandle,
  WatchListener,
} from '../../lib/watch/informer-port.interface.js';
import type { InformerEntry } from '../../lib/watch/informer.interfaces.js';

/**
 * Test doubles for the informer's engine logic (unit tests only; every test that touches etcd uses
 * a real etcd). A {@link FakeEtcd} is an in-memory, revision-stamped key space with a history (so a
 * list can read at an older revision), compaction and watches; a {@link FakeClock} moves only when
 * told to.
 */

export { FakeClock, settle } from './fake-clock.js';

interface StoredKey {
  value: Buffer;
  modRevision: number;
  createRevision: number;
  version: number;
}

interface FakeWatch {
  prefix: string;
  startRevision: number;
  listener: WatchListener;
  closed: boolean;
  canceled: boolean;
}

type Write = { key: string; value?: string };

/** An in-memory etcd key space behind the informer's port. */
export class FakeEtcd implements InformerPort {
  revision = 1;
  compactedAt = 0;
  /** Keys per page (small, so tests exercise pagination). */
  pageSize = 2;
  /** Acknowledge new watches at once. */
  autoAcknowledge = true;
  /** Deliver events to watches (false: a silently stalled stream). */
  delivering = true;
  /** When set, every list page rejects with it. */
  listError: Error | undefined;
  /** When set, every new watch breaks with it (etcd unreachable), on a later turn. */
  watchError: Error | undefined;
  /** When set, etcd cancels every new watch with it (e.g. permission denied), on a later turn. */
  watchCancel: Error | undefined;
  /** Called before each list page is answered (e.g. to write between pages). */
  beforePage: ((request: ListPageRequest) => void) | undefined;
  readonly watches: FakeWatch[] = [];
  readonly lists: ListPageRequest[] = [];
  probes = 0;
  resets = 0;
  private readonly history: Array<{ revision: number; key: string; value?: Buffer }> = [];
  private readonly store = new Map<string, StoredKey>();

  /** Puts one key (one revision). */
  put(key: string, value: string): number {
    return this.txn([{ key, value }]);
  }

  /** Deletes one key (one revision, even when absent: etcd would not, tests do not rely on it). */
  del(key: string): number {
    return this.txn([{ key }]);
  }

  /** Applies several writes at one revision, like an etcd transaction or a range delete. */
  txn(writes: readonly Write[]): number {
    const revision = ++this.revision;
    const events: Array<{ prefixKey: string; event: WatchEvent }> = [];
    for (const { key, value } of writes) {
      if (value === undefined) {
        if (!this.store.delete(key)) continue;
        this.history.push({ revision, key });
        events.push({ prefixKey: key, event: { type: 'delete', key, revision } });
      } else {
        const bytes = Buffer.from(value);
        const old = this.store.get(key);
        const stored = {
          value: bytes,
          modRevision: revision,
          createRevision: old?.createRevision ?? revision,
          version: (old?.version ?? 0) + 1,
        };
        this.store.set(key, stored);
        this.history.push({ revision, key, value: bytes });
        events.push({ prefixKey: key, event: { type: 'put', entry: toEntry(key, stored) } });
      }
    }
    if (this.delivering) {
      for (const watch of this.liveWatches()) {
        const mine = events.filter(e => e.prefixKey.startsWith(watch.prefix)).map(e => e.event);
        if (mine.length > 0 && revision >= watch.startRevision) watch.listener.events(mine);
      }
    }
    return revision;
  }

  /** Compacts history up to `revision`: watches from at or before it are canceled. */
  compact(revision = this.revision): void {
    this.compactedAt = revision;
  }

  /** Breaks every live watch, as a lost connection does. */
  breakStream(err: unknown = new Error('14 UNAVAILABLE: Connection dropped')): void {
    for (const watch of this.liveWatches()) {
      watch.closed = true;
      watch.listener.broken(err);
    }
  }

  /** etcd cancels every live watch with `err`. */
  cancelWatches(err: unknown): void {
    for (const watch of this.liveWatches()) {
      watch.closed = true;
      watch.canceled = true;
      watch.listener.canceled(err);
    }
  }

  /** Acknowledges every live watch not yet acknowledged. */
  acknowledgeAll(): void {
    for (const watch of this.liveWatches()) watch.listener.acknowledged();
  }

  /** A progress notification on every live watch. */
  progress(): void {
    for (const watch of this.liveWatches()) watch.listener.events([]);
  }

  liveWatches(): FakeWatch[] {
    return this.watches.filter(w => !w.closed);
  }

  /** The current keys under a prefix (key -> value). */
  contents(prefix: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const [key, stored] of this.store) {
      if (key.startsWith(prefix)) out.set(key, stored.value.toString());
    }
    return out;
  }

  async listPage(prefix: string, request: ListPageRequest): Promise<ListPage> {
    this.lists.push(request);
    await Promise.resolve();
    this.beforePage?.(request);
    if (this.listError !== undefined) throw this.listError;
    const revision = request.revision ?? this.revision;
    const keys = [...this.at(revision)]
      .filter(([key]) => key.startsWith(prefix))
      .filter(
        ([key]) => request.startAfter === undefined || compareKeys(key, request.startAfter) > 0,
      )
      .sort(([a], [b]) => compareKeys(a, b));
    const page = keys.slice(0, Math.min(this.pageSize, request.limit));
    return {
      revision,
      entries: page.map(([key, stored]) => toEntry(key, stored)),
      more: keys.length > page.length,
    };
  }

  watch(prefix: string, startRevision: number, listener: WatchListener): WatchHandle {
    const watch: FakeWatch = { prefix, startRevision, listener, closed: false, canceled: false };
    this.watches.push(watch);
    // Answered on a later turn of the event loop, as etcd's answer would be.
    setImmediate(() => {
      if (watch.closed) return;
      if (this.watchError !== undefined) {
        watch.closed = true;
        listener.broken(this.watchError);
        return;
      }
      if (this.watchCancel !== undefined) {
        watch.closed = true;
        watch.canceled = true;
        listener.acknowledged();
        listener.canceled(this.watchCancel);
        return;
      }
      if (startRevision <= this.compactedAt) {
        watch.closed = true;
        watch.canceled = true;
        listener.canceled(new Error('Watcher canceled: '));
        return;
      }
      if (this.autoAcknowledge) listener.acknowledged();
      // Catch up from history, as etcd does for a watch from an older revision.
      const backlog = this.history.filter(
        h => h.revision >= startRevision && h.key.startsWith(prefix),
      );
      if (this.delivering && backlog.length > 0) {
        listener.events(
          backlog.map(h =>
            h.value === undefined
              ? { type: 'delete', key: h.key, revision: h.revision }
              : {
                  type: 'put',
                  entry: Object.freeze({
                    key: h.key,
                    value: h.value,
                    modRevision: h.revision,
                    createRevision: h.revision,
                    version: 1,
                    lease: '0',
                  }),
                },
          ),
        );
      }
    });
    return {
      close: () => {
        watch.closed = true;
      },
    };
  }

  async probe(prefix: string, afterRevision: number): Promise<ProbeResult> {
    this.probes++;
    await Promise.resolve();
    const keys = [...this.store].filter(([key]) => key.startsWith(prefix));
    return {
      count: keys.length,
      newer: keys.filter(([, stored]) => stored.modRevision > afterRevision).length,
    };
  }

  resetStream(): void {
    this.resets++;
    this.breakStream(new Error('watch stream reset'));
  }

  /** The key space as it was at `revision`. */
  private at(revision: number): Map<string, StoredKey> {
    if (revision >= this.revision) return this.store;
    const out = new Map<string, StoredKey>();
    for (const h of this.history) {
      if (h.revision > revision) break;
      if (h.value === undefined) out.delete(h.key);
      else {
        const old = out.get(h.key);
        out.set(h.key, {
          value: h.value,
          modRevision: h.revision,
          createRevision: old?.createRevision ?? h.revision,
          version: (old?.version ?? 0) + 1,
        });
      }
    }
    return out;
  }
}

function toEntry(key: string, stored: StoredKey): InformerEntry {
  return Object.freeze({
    key,
    value: stored.value,
    modRevision: stored.modRevision,
    createRevision: stored.createRevision,
    version: stored.version,
    lease: '0',
  });
}

/** etcd orders keys by bytes; compare the names' UTF-16 units the same way for these tests. */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
