import { decodeByFormat, formatOf } from '../config/config-codec.js';
import { ConfigHistory } from '../config/config-history.js';
import type { AdminHistoryEntry } from './admin.interfaces.js';
import type { AdminContext } from './admin-context.js';

/**
 * A key's revisions, newest first, deletes included, each marked with whether it decodes by the
 * key's format: the config center's own history (ONE watch replaying the key's events from the
 * oldest revision etcd keeps), on any etcd key. @internal
 */
export async function readHistory(
  ctx: AdminContext,
  etcdKey: string,
  limit: number,
): Promise<AdminHistoryEntry[]> {
  const format = formatOf(etcdKey);
  const revisions = await new ConfigHistory(ctx.connection, '').history(etcdKey, limit, text =>
    decodeByFormat(text, format),
  );
  return revisions.map(r => {
    const entry: AdminHistoryEntry = {
      revision: r.revision,
      version: r.version,
      deleted: r.deleted,
      text: r.raw,
      decodes: r.valid,
    };
    if (r.reason !== undefined) entry.reason = r.reason;
    return entry;
  });
}

/** How many keys' histories a {@link HistoryCache} keeps. */
const CACHED_KEYS = 256;

/**
 * The histories a long-lived admin (the console, `watchFleet: true`) already read, by etcd key: a
 * key's history up to its current mod revision never changes (a later put or delete moves the mod
 * revision, or leaves the key absent, which is never served from here), so a page that shows the
 * same key again costs one Range instead of a replay of etcd's whole kept history (≈ 95 ms of the
 * key page's ≈ 105 ms for 200 instances and 500 keys: docs/console.md). Entries compacted away
 * since the first read may still be listed; a rollback to one fails with etcd's own answer.
 * @internal
 */
export class HistoryCache {
  private readonly byKey = new Map<string, { tag: string; entries: AdminHistoryEntry[] }>();

  constructor(private readonly ctx: AdminContext) {}

  /** {@link readHistory}, served from the cache while the key's mod revision has not moved. */
  async read(etcdKey: string, limit: number): Promise<AdminHistoryEntry[]> {
    const current = await this.ctx.read(etcdKey, 'read history of');
    if (!current) return readHistory(this.ctx, etcdKey, limit);
    const tag = `${limit}@${current.mod_revision}`;
    const cached = this.byKey.get(etcdKey);
    if (cached?.tag !== tag) {
      const entries = await readHistory(this.ctx, etcdKey, limit);
      this.byKey.delete(etcdKey);
      this.byKey.set(etcdKey, { tag, entries });
      if (this.byKey.size > CACHED_KEYS) {
        this.byKey.delete(this.byKey.keys().next().value as string);
      }
      return entries.map(entry => ({ ...entry }));
    }
    return cached.entries.map(entry => ({ ...entry }));
  }
}
