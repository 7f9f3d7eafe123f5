import type { IKeyValue, WatchBuilder } from 'etcd3';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { classifyWatchCancel, etcdAnswerCode } from '../client/etcd-errors.classifier.js';
import { ConfigRevisionAbsentError } from '../errors/config-revision-absent.error.js';
import { ConfigRevisionCompactedError } from '../errors/config-revision-compacted.error.js';
import { EtcdUnavailableError } from '../errors/etcd-unavailable.error.js';
import type { ConfigRevision, ConfigValidation } from './config-value.interface.js';

/** One event of a key's history, oldest first, as the watch replays it. */
interface HistoryEvent {
  readonly revision: number;
  readonly version: number;
  /** `undefined` for a delete. */
  readonly value: Buffer | undefined;
}

/** etcd sends an unsynced watcher at most this many revisions per response (mvcc watchBatchMaxRevs). */
const REPLAY_BATCH_REVISIONS = 1000;
/** With the key absent now, how long the replay may stay silent before it is taken as complete (ms). */
const REPLAY_QUIET_MS = 300;
/** The longest a replay may take before history() gives up (ms). */
const REPLAY_BOUND_MS = 30_000;

/**
 * A config key's past, from etcd's MVCC store: `history()` and `rollback()` of EtcdConfigService.
 * History is read with ONE watch from the oldest revision etcd still has (it replays the key's
 * events, every generation across deletes), not one read per revision. Stateless but for the
 * compaction point it learned.
 * @internal
 */
export class ConfigHistory {
  /** The oldest revision etcd was seen to keep (compaction only moves it forward). */
  private oldest = 1;

  constructor(
    private readonly connection: EtcdConnection,
    /** The app's config prefix (`<prefix><key>` is the etcd key of a config key). */
    private readonly prefix: string,
  ) {}

  /**
   * The history of `<prefix><key>` newest first (at most `limit` entries), back to etcd's
   * compaction point; each put says whether `check` accepts its text.
   */
  async history(
    key: string,
    limit: number,
    check: (text: string) => ConfigValidation<unknown>,
  ): Promise<ConfigRevision[]> {
    return this.historyOf(`${this.prefix}${key}`, limit, check);
  }

  /** {@link history} of any etcd key (an overlay's, a shared prefix's). */
  async historyOf(
    etcdKey: string,
    limit: number,
    check: (text: string) => ConfigValidation<unknown>,
  ): Promise<ConfigRevision[]> {
    const events = await this.replay(etcdKey);
    const out: ConfigRevision[] = [];
    for (let i = events.length - 1; i >= 0 && out.length < limit; i--) {
      const event = events[i]!;
      if (!event.value) {
        out.push({
          value: undefined,
          raw: undefined,
          revision: event.revision,
          version: 0,
          deleted: true,
          valid: true,
        });
        continue;
      }
      const raw = event.value.toString('utf8');
      const checked = check(raw);
      out.push({
        value: checked.ok ? checked.value : raw,
        raw,
        revision: event.revision,
        version: event.version,
        deleted: false,
        valid: checked.ok,
        ...(checked.ok ? {} : { reason: checked.reason }),
      });
    }
    return out;
  }

  /**
   * Puts back the value `<prefix><key>` held at an etcd revision. A folder (`db/`) gets every key
   * below it as it was then, in one transaction (keys created after it are deleted).
   * @throws ConfigRevisionAbsentError when the key (or folder) did not exist then: nothing changes.
   * @throws ConfigRevisionCompactedError when etcd compacted that revision away.
   */
  async rollback(key: string, revision: number): Promise<void> {
    const etcdKey = `${this.prefix}${key}`;
    const kv = this.connection.kv;
    if (!key.endsWith('/')) {
      const then = await this.valueAt(key, etcdKey, revision);
      if (!then) throw new ConfigRevisionAbsentError(key, revision);
      try {
        await kv.put(etcdKey).value(then);
      } catch (err) {
        throw this.connection.mapError(err, 'rollback', etcdKey);
      }
      return;
    }
    const then = await this.folderAt(key, etcdKey, revision);
    if (Object.keys(then).length === 0) throw new ConfigRevisionAbsentError(key, revision);
    const now = await this.folderAt(key, etcdKey, undefined);
    const ops = [];
    for (const [name, value] of Object.entries(then)) {
      if (!now[name]?.equals(value)) ops.push(kv.put(name).value(value));
    }
    for (const name of Object.keys(now)) {
      if (!(name in then)) ops.push(kv.delete().key(name));
    }
    if (ops.length === 0) return;
    try {
      // One transaction: the folder changes at one revision (one emission of its ConfigValue).
      await kv
        .if(etcdKey, 'Version', '>', -1)
        .then(...ops)
        .commit();
    } catch (err) {
      throw this.connection.mapError(err, 'rollback', etcdKey);
    }
  }

  /** The value of a key at a revision, `undefined` when it did not exist then. */
  private async valueAt(
    key: string,
    etcdKey: string,
    revision: number,
  ): Promise<Buffer | undefined> {
    try {
      const res = await this.connection.kv.get(etcdKey).revision(revision).exec();
      return res.kvs[0]?.value;
    } catch (err) {
      throw (
        this.revisionError(err, key, revision) ?? this.connection.mapError(err, 'read', etcdKey)
      );
    }
  }

  /** The keys below a folder and their values at a revision (`undefined`: now). */
  private async folderAt(
    key: string,
    etcdKey: string,
    revision: number | undefined,
  ): Promise<Record<string, Buffer>> {
    const builder = this.connection.kv.getAll().prefix(etcdKey);
    if (revision !== undefined) builder.revision(revision);
    try {
      return await builder.buffers();
    } catch (err) {
      throw (
        this.revisionError(err, key, revision) ?? this.connection.mapError(err, 'read', etcdKey)
      );
    }
  }

  private revisionError(
    err: unknown,
    key: string,
    revision: number | undefined,
  ): Error | undefined {
    if (revision === undefined) return undefined;
    const code = etcdAnswerCode(err);
    if (code === 'compacted') return new ConfigRevisionCompactedError(key, revision);
    if (code === 'future-revision') {
      return new TypeError(`revision ${revision} is newer than etcd's current revision`);
    }
    return undefined;
  }

  /**
   * Every event of one key still in etcd's history, oldest first: one watch from the oldest revision
   * kept, until the replay reached the key's current state.
   */
  private async replay(etcdKey: string): Promise<HistoryEvent[]> {
    const kv = this.connection.kv;
    let head: { kvs: IKeyValue[]; header: { revision: string | number } };
    try {
      head = await kv.get(etcdKey).exec();
    } catch (err) {
      throw this.connection.mapError(err, 'read history of', etcdKey);
    }
    const current = head.kvs[0];
    const now = Number(head.header.revision);
    for (let attempt = 0; attempt < 3; attempt++) {
      const start = this.oldest;
      // Only the current value is left when its put is older than what etcd replays.
      if (start > now || (current && Number(current.mod_revision) < start)) {
        return current ? [toEvent(current)] : [];
      }
      const events = await this.watchFrom(
        etcdKey,
        start,
        current ? Number(current.mod_revision) : undefined,
      );
      if (events) return events;
      // Compacted since: find the new oldest revision, and watch again from it.
      this.oldest = await this.oldestKept(etcdKey, start, now);
    }
    return current ? [toEvent(current)] : [];
  }

  /**
   * Events from `start` until the one at `last` (the key's mod revision now), or, the key being
   * absent now, until a response shows the replay caught up. `undefined` when `start` was compacted.
   */
  private async watchFrom(
    etcdKey: string,
    start: number,
    last: number | undefined,
  ): Promise<HistoryEvent[] | undefined> {
    const events: HistoryEvent[] = [];
    let watcher: Awaited<ReturnType<WatchBuilder['create']>>;
    try {
      watcher = await this.connection.kv.watch().key(etcdKey).startRevision(String(start)).create();
    } catch (err) {
      if (classifyWatchCancel(err) === 'compacted') return undefined;
      throw this.connection.mapError(err, 'read history of', etcdKey);
    }
    return new Promise<HistoryEvent[] | undefined>((resolve, reject) => {
      let quiet: NodeJS.Timeout | undefined;
      let done = false;
      const finish = (outcome: () => void, canceledByEtcd = false): void => {
        if (done) return;
        done = true;
        if (quiet) clearTimeout(quiet);
        clearTimeout(bound);
        // A watch etcd cancelled is gone already: cancelling it again would answer an unknown id.
        if (!canceledByEtcd) void watcher.cancel().catch(() => undefined);
        outcome();
      };
      const waitQuietly = (): void => {
        if (last !== undefined) return;
        if (quiet) clearTimeout(quiet);
        quiet = setTimeout(() => finish(() => resolve(events)), REPLAY_QUIET_MS);
      };
      waitQuietly();
      // Never hang a caller: a replay that does not end in time is an error.
      const bound = setTimeout(() => {
        finish(() =>
          reject(
            new EtcdUnavailableError(
              'read history of',
              etcdKey,
              this.connection.options.hosts,
              new Error(`the history was not replayed within ${REPLAY_BOUND_MS} ms`),
            ),
          ),
        );
      }, REPLAY_BOUND_MS);
      watcher.on('data', res => {
        const revisions = new Set<number>();
        for (const event of res.events ?? []) {
          const revision = Number(event.kv.mod_revision);
          revisions.add(revision);
          events.push(
            event.type === 'Delete'
              ? { revision, version: 0, value: undefined }
              : { revision, version: Number(event.kv.version), value: event.kv.value },
          );
        }
        const newest = events.at(-1)?.revision ?? 0;
        if (last !== undefined ? newest >= last : revisions.size < REPLAY_BATCH_REVISIONS) {
          finish(() => resolve(events));
        } else {
          waitQuietly();
        }
      });
      watcher.on('error', err => {
        if (classifyWatchCancel(err) === 'compacted') {
          finish(() => resolve(undefined), true);
        } else {
          finish(() => reject(this.connection.mapError(err, 'read history of', etcdKey)), true);
        }
      });
    });
  }

  /** The oldest revision etcd still answers reads at, between `from` and `now` (a binary search). */
  private async oldestKept(etcdKey: string, from: number, now: number): Promise<number> {
    let low = from; // compacted
    let high = now; // kept
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      try {
        await this.connection.kv.get(etcdKey).revision(middle).exec();
        high = middle;
      } catch (err) {
        if (etcdAnswerCode(err) !== 'compacted') {
          throw this.connection.mapError(err, 'read history of', etcdKey);
        }
        low = middle;
      }
    }
    return high;
  }
}

function toEvent(kv: IKeyValue): HistoryEvent {
  return { revision: Number(kv.mod_revision), version: Number(kv.version), value: kv.value };
}
