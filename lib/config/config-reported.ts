import { formatOf } from './config-codec.js';
import type { ConfigDecoder } from './config-decoder.js';
import type { ConfigEntry } from './config-entry.js';

/** What {@link reportedEntries} reads of the store. @internal */
export interface ReportedSource {
  readonly decoder: ConfigDecoder;
  /** Every entry the informers (or the snapshot's seed) hold. */
  held(): Iterable<ConfigEntry>;
  /** A key's effective entry (a document with its profile overlays merged). */
  effective(key: string): ConfigEntry | undefined;
}

/** Each key's entry as the status reports it, and what is still being decided. @internal */
export interface ReportedEntries {
  /** By config key. */
  readonly entries: Map<string, ConfigEntry>;
  /**
   * The oldest revision still being checked or decoded off the loop (the status has applied config
   * up to the revision before it); `undefined`: none.
   */
  readonly undecided: number | undefined;
}

/**
 * Per config key under `under`, the entry `pick` serves from the highest layer holding one. `pick`
 * is called only for keys under `under` (it may decode: a folder's read decodes nothing outside it).
 * @internal
 */
export function bestEntries(
  held: Iterable<ConfigEntry>,
  pick: (held: ConfigEntry) => ConfigEntry | undefined,
  under = '',
): Map<string, ConfigEntry> {
  const best = new Map<string, ConfigEntry>();
  for (const entry of held) {
    // A kept revision is of the same etcd key: the key decides before anything is decoded.
    if (under !== '' && !entry.key.startsWith(under, entry.layer.prefix.length)) continue;
    const served = pick(entry);
    if (!served) continue;
    const key = served.configKey;
    const kept = best.get(key);
    if (!kept || kept.rank < served.rank) best.set(key, served);
  }
  return best;
}

/**
 * Every key's entry as the status reports it, decoding nothing nobody read where that costs
 * ({@link ConfigDecoder.check}: a large YAML document is checked off the loop, its value not handed
 * back, and reported at the revision before it until then; anything else is decoded, as a read
 * would). A document with active profile overlays is merged, as a read would.
 * @internal
 */
export function reportedEntries(store: ReportedSource): ReportedEntries {
  let undecided: number | undefined;
  const best = bestEntries(store.held(), held => {
    store.decoder.check(held);
    const known = held.isKnown || (undecided !== undefined && undecided <= held.modRevision);
    if (!known) undecided = held.modRevision;
    return held.reported;
  });
  for (const [key, entry] of best) {
    if (entry.layer.profile !== undefined && formatOf(key) !== 'auto') {
      const merged = store.effective(key);
      if (merged) best.set(key, merged);
    }
  }
  return { entries: best, undecided };
}

/**
 * Every entry served (all layers; the kept revision of a rejected one), for the snapshot file, as
 * the status sees them ({@link reportedEntries}): a large YAML document nobody read is written once
 * checked valid, without being decoded on the loop.
 * @internal
 */
export function servedEntries(store: ReportedSource): ConfigEntry[] {
  const all: ConfigEntry[] = [];
  for (const held of store.held()) {
    store.decoder.check(held);
    const served = held.reported;
    if (served) all.push(served);
  }
  return all;
}
