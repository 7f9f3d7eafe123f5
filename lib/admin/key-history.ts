import type { IKeyValue } from 'etcd3';
import { decodeByFormat, formatOf } from '../config/config-codec.js';
import type { AdminHistoryEntry } from './admin.interfaces.js';
import { type AdminContext, textOf } from './admin-context.js';

/** Reads past the newest delete at most this many revisions back, one Range each. */
const MAX_ABSENT_PROBES = 64;

/**
 * A key's revisions from etcd's MVCC store, newest first, each marked with whether it decodes by
 * the key's format; deletes included. Stops at etcd's compaction point. @internal
 */
export async function readHistory(
  ctx: AdminContext,
  etcdKey: string,
  limit: number,
): Promise<AdminHistoryEntry[]> {
  const format = formatOf(etcdKey);
  const head = await ctx.call('read history of', etcdKey, () => ctx.kv.get(etcdKey).exec());
  const entries: AdminHistoryEntry[] = [];
  let at = Number(head.header.revision);
  let kv: IKeyValue | undefined = head.kvs[0];
  let absentSince: number | undefined = kv ? undefined : at;
  let probes = 0;
  while (entries.length < limit && at >= 1) {
    if (kv) {
      if (absentSince !== undefined) {
        // present at `at`, absent from `at + 1`: deleted there
        entries.push({
          revision: at + 1,
          version: 0,
          deleted: true,
          text: undefined,
          decodes: true,
        });
        absentSince = undefined;
        if (entries.length >= limit) break;
      }
      const text = textOf(kv);
      entries.push({
        revision: Number(kv.mod_revision),
        version: Number(kv.version),
        deleted: false,
        text,
        decodes: decodeByFormat(text, format).ok,
      });
      at = Number(kv.mod_revision) - 1;
      if (Number(kv.version) === 1) absentSince = at + 1;
    } else {
      absentSince ??= at;
      at -= 1;
      if (++probes > MAX_ABSENT_PROBES) break;
    }
    if (at < 1) break;
    const read = await readAt(ctx, etcdKey, at);
    if (read === 'compacted') break;
    kv = read;
  }
  return entries;
}

async function readAt(
  ctx: AdminContext,
  etcdKey: string,
  revision: number,
): Promise<IKeyValue | undefined | 'compacted'> {
  try {
    const res = await ctx.kv.get(etcdKey).revision(revision).exec();
    return res.kvs[0];
  } catch (err) {
    if (err instanceof Error && /compacted/i.test(err.message)) return 'compacted';
    throw ctx.connection.mapError(err, 'read history of', etcdKey);
  }
}
