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
