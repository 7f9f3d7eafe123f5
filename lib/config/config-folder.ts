import { getOwn, setOwn } from '../common/own-property.js';
import type { ConfigEntry } from './config-entry.js';

/**
 * Assembles effective entries below a folder key (`db/`) into one nested object: `db/pool/max`
 * becomes `{ pool: { max } }`. A deeper key wins over a leaf of the same name.
 * @internal
 */
export function assembleFolder(
  folder: string,
  entries: readonly ConfigEntry[],
): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  // Objects built here (never the decoded values themselves, which are shared and must not change).
  const built = new Set<object>([root]);
  for (const entry of entries) {
    const path = entry.configKey
      .slice(folder.length)
      .split('/')
      .filter(part => part.length > 0);
    if (path.length === 0) continue;
    let node = root;
    for (const part of path.slice(0, -1)) {
      // Own properties only: a child named `__proto__` or `constructor` is a key like any other.
      const next = getOwn(node, part);
      if (typeof next === 'object' && next !== null && built.has(next)) {
        node = next as Record<string, unknown>;
      } else {
        const created: Record<string, unknown> = {};
        built.add(created);
        setOwn(node, part, created);
        node = created;
      }
    }
    const leaf = path[path.length - 1]!;
    const existing = getOwn(node, leaf);
    if (typeof existing === 'object' && existing !== null && built.has(existing)) continue;
    setOwn(node, leaf, entry.decoded);
  }
  return root;
}
