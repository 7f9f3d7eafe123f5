import { Etcd3, type Namespace } from 'etcd3';
import { type Subscription } from 'rxjs';
import type { PrefixChange as PrefixChange, PrefixEntry as PrefixEntry } from '../../lib/index.js';
import {
  EtcdConnection,
  createInformerPool,
  resolveEtcdOptions,
  type InformerPool,
  type PrefixInformer,
} from './internals.js';
import { nextValue, waitFor } from './index.js';
import { TEST_RETRY } from './nest-apps.js';

/** A small seeded PRNG (see random.ts). */
export { seededRandom } from './random.js';

/** Shared helpers of the informer e2e specs (real etcd only). */

/** A connection and its informer pool, wired as EtcdModule wires them. */
export class TestConnection {
  readonly informers: InformerPool;

  constructor(readonly connection: EtcdConnection) {
    this.informers = createInformerPool(connection);
  }

  /** The connection's namespaced client. */
  get kv(): Namespace {
    return this.connection.kv;
  }

  /** Shuts down in the module's order: informers first, then the client. */
  async onApplicationShutdown(): Promise<void> {
    await this.informers.beforeApplicationShutdown();
    await this.connection.onApplicationShutdown();
  }
}

/** An `EtcdConnection` (with its informer pool) with fast retries, as the informer specs use it. */
export function openConnection(
  hosts: string | string[],
  extra: { watchStallTimeout?: number; keepaliveInterval?: number; keepaliveTimeout?: number } = {},
): TestConnection {
  const connection = new EtcdConnection(
    resolveEtcdOptions({
      hosts,
      retry: TEST_RETRY,
      watchStallTimeout: extra.watchStallTimeout ?? 30_000,
      keepaliveInterval: extra.keepaliveInterval,
      keepaliveTimeout: extra.keepaliveTimeout,
      connectTimeout: 3_000,
    }),
  );
  return new TestConnection(connection);
}

/** A plain etcd3 client for writes made behind the informer's back. */
export function writerClient(hosts: string | string[]): Etcd3 {
  return new Etcd3({ hosts, dialTimeout: 2_000 });
}

/** Records every change the informer emits, from now on. */
export class ChangeLog {
  readonly changes: PrefixChange[] = [];
  private readonly subscription: Subscription;

  constructor(informer: PrefixInformer) {
    this.subscription = informer.changes$.subscribe(change => this.changes.push(change));
  }

  /** Changes recorded after index `from`. */
  since(from: number): PrefixChange[] {
    return this.changes.slice(from);
  }

  close(): void {
    this.subscription.unsubscribe();
  }
}

/** Key → value (utf8) of a map of entries. */
export function asStrings(entries: ReadonlyMap<string, PrefixEntry>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, entry] of entries) out.set(key, entry.value.toString());
  return out;
}

/** Sorted array form of a key → value map, for readable `toEqual` diffs. */
export function sorted(map: ReadonlyMap<string, string>): Array<[string, string]> {
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Applies `changes` in order over `base` (key → value). */
export function replay(
  base: ReadonlyMap<string, string>,
  changes: readonly PrefixChange[],
): Map<string, string> {
  const out = new Map(base);
  for (const change of changes) {
    if (change.type === 'put') out.set(change.key, change.entry!.value.toString());
    else out.delete(change.key);
  }
  return out;
}

/** Waits until the informer is connected and has applied `revision`. */
export async function caughtUp(
  informer: PrefixInformer,
  revision: number,
  timeout = 15_000,
): Promise<void> {
  await waitFor(
    () =>
      informer.state.connected && informer.state.synced && informer.snapshot.revision >= revision,
    { timeout, message: `informer on ${informer.prefix} never reached revision ${revision}` },
  );
}

/** Resolves when `connected$` emits `value`; rejects after `timeoutMs` (default 30 s). */
export function connectedIs(
  informer: PrefixInformer,
  value: boolean,
  timeoutMs = 30_000,
): Promise<boolean> {
  return nextValue(
    informer.connected$,
    c => c === value,
    timeoutMs,
    `informer on ${informer.prefix} connected$ = ${value}`,
  );
}

/** Reads one gauge of etcd's Prometheus metrics (sum over label sets). */
export async function etcdMetric(clientPort: number, name: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${clientPort}/metrics`);
  const text = await res.text();
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
      found = true;
    }
  }
  if (!found) throw new Error(`metric ${name} not found`);
  return total;
}

/** Asserts the change log has each revision of (from, to] exactly once, in increasing order. */
export function revisionsOf(changes: readonly PrefixChange[]): number[] {
  return changes.map(c => c.revision);
}
