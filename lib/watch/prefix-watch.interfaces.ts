/*
 * What users of EtcdWatchService.watchPrefix() hold: the entries, changes and snapshots of a
 * watched prefix. The informer (the engine behind every watch) works with the same shapes under its
 * own names (InformerEntry, InformerChange, InformerSnapshot in informer.interfaces.ts).
 */

/** One key under a watched prefix. Keys are full etcd keys (inside the module's namespace). */
export interface PrefixEntry {
  readonly key: string;
  readonly value: Buffer;
  /** Revision of the last change of this key. */
  readonly modRevision: number;
  readonly createRevision: number;
  readonly version: number;
  /** Lease id ('0' when the key has no lease). */
  readonly lease: string;
}

/** One change of a key under a watched prefix, in revision order. */
export interface PrefixChange {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** The new entry (for `put`). */
  readonly entry?: PrefixEntry;
  /** The entry before the change, when the informer held one. */
  readonly previous?: PrefixEntry;
  /** The etcd revision of the change (for a delete found by a re-list: the list's revision). */
  readonly revision: number;
  /** True when the change was found by diffing a re-list rather than delivered by the watch. */
  readonly resync: boolean;
}

/** Every key under a watched prefix at one revision (immutable). */
export interface PrefixSnapshot {
  readonly prefix: string;
  /** The revision of the last list or event applied. */
  readonly revision: number;
  readonly entries: ReadonlyMap<string, PrefixEntry>;
}
