import type { ConfigEntry } from './config-entry.js';

/*
 * The store's batches: the config keys one etcd revision changed, reported together (a transaction
 * that changes three keys is one batch), each with its effective entry before the change.
 */

/** One change of a key's effective value, as a batch reports it. @internal */
export interface StoreChange {
  readonly key: string;
  readonly previous: ConfigEntry | undefined;
  readonly next: ConfigEntry | undefined;
  readonly revision: number;
}

/**
 * The config keys one revision changed, each with its effective entry before the change, in the
 * order they changed. Most revisions change one key: arrays, with a set of the keys only for a large
 * batch (a re-list's).
 * @internal
 */
export class Batch {
  readonly keys: string[] = [];
  readonly before: Array<ConfigEntry | undefined> = [];
  private index: Set<string> | undefined;

  constructor(public revision: number) {}

  has(key: string): boolean {
    if (this.index) return this.index.has(key);
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === key) return true;
    }
    return false;
  }

  add(key: string, before: ConfigEntry | undefined): void {
    this.keys.push(key);
    this.before.push(before);
    if (this.index) this.index.add(key);
    else if (this.keys.length > 16) this.index = new Set(this.keys);
  }
}
