import { getOwn, setOwn } from '../common/own-property.js';
import type { ConfigEntry } from './config-entry.js';
import type { EffectiveValue } from './effective-value.js';

/** The path of a key below a folder: `db/pool/max` below `db/` is `['pool', 'max']`. */
function pathBelow(folder: string, configKey: string): string[] {
  return configKey
    .slice(folder.length)
    .split('/')
    .filter(part => part.length > 0);
}

/**
 * Assembles entries below `folder`, sorted by key, into one nested object; `plain` is false when a
 * key's value did not land as a leaf of its own (a deeper key won over it, or it had no path).
 */
function assemble(
  folder: string,
  entries: readonly ConfigEntry[],
): { root: Record<string, unknown>; plain: boolean } {
  const root: Record<string, unknown> = {};
  let plain = true;
  // Objects built here (never the decoded values themselves, which are shared and must not change).
  const built = new Set<object>([root]);
  for (const entry of entries) {
    const path = pathBelow(folder, entry.configKey);
    if (path.length === 0) {
      plain = false;
      continue;
    }
    let node = root;
    for (let i = 0; i < path.length - 1; i++) {
      const part = path[i]!;
      // Own properties only: a child named `__proto__` or `constructor` is a key like any other.
      const next = getOwn(node, part);
      if (typeof next === 'object' && next !== null && built.has(next)) {
        node = next as Record<string, unknown>;
      } else {
        if (next !== undefined) plain = false;
        const created: Record<string, unknown> = {};
        built.add(created);
        setOwn(node, part, created);
        node = created;
      }
    }
    const leaf = path[path.length - 1]!;
    const existing = getOwn(node, leaf);
    if (typeof existing === 'object' && existing !== null && built.has(existing)) {
      plain = false;
      continue;
    }
    setOwn(node, leaf, entry.decoded);
  }
  return { root, plain };
}

/**
 * Assembles effective entries below a folder key (`db/`) into one nested object: `db/pool/max`
 * becomes `{ pool: { max } }`. A deeper key wins over a leaf of the same name.
 * @internal
 */
export function assembleFolder(
  folder: string,
  entries: readonly ConfigEntry[],
): Record<string, unknown> {
  return assemble(folder, entries).root;
}

/**
 * A folder's effective value as a `LiveConfigValue` is handed it: its entries sorted by key (the
 * `parts` that tell two values apart), the assembled object, and the text that identifies it (made
 * only when a custom `parse` asks). A change that only puts new revisions of keys the folder holds
 * makes the next value in place ({@link withPuts}): the entries replaced and the object copied
 * along the changed paths only, its other branches shared with this value.
 * @internal
 */
export class FolderValue implements EffectiveValue {
  private textValue: string | undefined;

  private constructor(
    private readonly folder: string,
    readonly parts: readonly ConfigEntry[],
    readonly value: Record<string, unknown>,
    /** The etcd key of the folder (`<prefix><folder>`). */
    readonly source: string,
    /** The newest mod revision of its entries. */
    readonly revision: number,
    /** Position in {@link parts} by config key; undefined when not every entry is its own leaf. */
    private readonly index: ReadonlyMap<string, number> | undefined,
  ) {}

  /** The value of `entries` (the folder's effective entries, sorted by key); none when empty. */
  static of(
    folder: string,
    entries: readonly ConfigEntry[],
    source: string,
  ): FolderValue | undefined {
    if (entries.length === 0) return undefined;
    const { root, plain } = assemble(folder, entries);
    let revision = 0;
    for (const entry of entries) revision = Math.max(revision, entry.modRevision);
    const index = plain ? new Map(entries.map((entry, i) => [entry.configKey, i])) : undefined;
    return new FolderValue(folder, entries, root, source, revision, index);
  }

  get text(): string {
    return (this.textValue ??= JSON.stringify(
      this.parts.map(entry => [entry.configKey, entry.text]),
    ));
  }

  /**
   * The value once `puts` (each the new effective entry of a key below the folder) are applied, or
   * undefined when only a full assembly can tell (a key the folder does not hold yet, or a folder
   * where a deeper key wins over a leaf).
   */
  withPuts(puts: readonly ConfigEntry[]): FolderValue | undefined {
    const index = this.index;
    if (!index) return undefined;
    const parts = this.parts.slice();
    const root = { ...this.value };
    // The objects copied so far, by the object of this value they copy.
    const copies = new Map<object, Record<string, unknown>>([[this.value, root]]);
    let revision = this.revision;
    for (const entry of puts) {
      const at = index.get(entry.configKey);
      if (at === undefined) return undefined;
      parts[at] = entry;
      revision = Math.max(revision, entry.modRevision);
      const path = pathBelow(this.folder, entry.configKey);
      let original = this.value;
      let node = root;
      for (let i = 0; i < path.length - 1; i++) {
        // Every key is its own leaf: the way to it is made of objects assembled here.
        const child = getOwn(original, path[i]!) as Record<string, unknown>;
        let copy = copies.get(child);
        if (!copy) {
          copy = { ...child };
          copies.set(child, copy);
          setOwn(node, path[i]!, copy);
        }
        original = child;
        node = copy;
      }
      setOwn(node, path[path.length - 1]!, entry.decoded);
    }
    return new FolderValue(this.folder, parts, root, this.source, revision, index);
  }
}
