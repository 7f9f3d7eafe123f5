import type { InformerPort, ListPageRequest } from './informer-port.interface.js';
import type { InformerChange, InformerEntry } from './informer.interfaces.js';

/*
 * The informer's list: every key under a prefix at one revision (paginated), and the diff of a
 * re-list against the map it replaces, so a re-list emits only real differences.
 */

/** Keys fetched per range request while listing. */
const PAGE_SIZE = 5000;

/**
 * Lists every key under `prefix`, all pages at the revision of the first one; `convert` makes each
 * listed entry the one the map holds (the informer's transform, or the entry frozen).
 * @internal
 */
export async function listPrefix(
  port: InformerPort,
  prefix: string,
  timeout: ListPageRequest['timeout'],
  convert: (entry: InformerEntry) => InformerEntry,
): Promise<{ readonly entries: Map<string, InformerEntry>; readonly revision: number }> {
  const fresh = new Map<string, InformerEntry>();
  let startAfter: string | undefined;
  let listRevision: number | undefined;
  for (;;) {
    const page = await port.listPage(prefix, {
      limit: PAGE_SIZE,
      revision: listRevision,
      startAfter,
      timeout,
    });
    listRevision ??= page.revision;
    for (const entry of page.entries) fresh.set(entry.key, convert(entry));
    const last = page.entries[page.entries.length - 1];
    if (!page.more || !last) break;
    startAfter = last.key;
  }
  return { entries: fresh, revision: listRevision };
}

/**
 * What a re-list at `listRevision` changed against the map it replaces: a put for each key new or
 * modified, a delete for each key gone, in revision order.
 * @internal
 */
export function relistChanges(
  held: ReadonlyMap<string, InformerEntry>,
  fresh: ReadonlyMap<string, InformerEntry>,
  listRevision: number,
): InformerChange[] {
  const changes: InformerChange[] = [];
  for (const [key, entry] of fresh) {
    const previous = held.get(key);
    if (!previous || previous.modRevision !== entry.modRevision) {
      changes.push({
        type: 'put',
        key,
        entry,
        previous,
        revision: entry.modRevision,
        resync: true,
      });
    }
  }
  for (const [key, previous] of held) {
    if (!fresh.has(key)) {
      changes.push({ type: 'delete', key, previous, revision: listRevision, resync: true });
    }
  }
  changes.sort((a, b) => a.revision - b.revision);
  return changes;
}
