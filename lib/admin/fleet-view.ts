import type { EtcdConnection } from '../client/etcd-connection.js';
import type { InformerHandle, InformerPool } from '../watch/informer-pool.js';
import type { InformerEntry } from '../watch/informer.interfaces.js';

/** One key under a fleet prefix, as the fleet reader consumes it. @internal */
export interface FleetEntry {
  /** The key inside the namespace. */
  readonly key: string;
  readonly value: Buffer;
  readonly lease: string;
  readonly modRevision: number;
}

/**
 * A live view of the registry prefix and the status prefix (every service), kept current by the
 * module's informer primitive (lib/watch/) on the admin's own connection: acquired on first use,
 * released by {@link close}. Long-lived faces (the console) read the fleet from memory instead of
 * a Range of 200 x 40 KB status keys per call; the reader parses each key once per revision (the
 * entries are replaced per revision, so a WeakMap on them is the cache).
 *
 * Until an informer has listed (and whenever it is not connected) {@link entries} answers
 * `undefined` and the reader reads etcd directly: a first call or an outage gives the same answer
 * and the same errors as without the view, and never waits on a watch. @internal
 */
export class FleetView {
  private pool: Promise<InformerPool> | undefined;
  private readonly handles = new Map<string, Promise<InformerHandle>>();
  private closed = false;

  constructor(private readonly connection: EtcdConnection) {}

  /**
   * Every entry under `prefix` (inside one of the watched `root` prefixes), or `undefined` when the
   * informer of `root` is not synced and connected yet (it is started by this call).
   */
  async entries(root: string, prefix: string): Promise<FleetEntry[] | undefined> {
    if (this.closed) return undefined;
    const handle = await this.hold(root);
    const { informer } = handle;
    const state = informer.state;
    if (!state.synced || !state.connected) return undefined;
    const found: InformerEntry[] = [];
    for (const entry of informer.current().entries) {
      if (entry.key.startsWith(prefix)) found.push(entry);
    }
    return found;
  }

  /** Stops the informers and waits until their watchers ended (before the client closes). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.handles.values());
    this.handles.clear();
    const pool = await this.pool?.catch(() => undefined);
    await pool?.close();
  }

  private hold(root: string): Promise<InformerHandle> {
    let handle = this.handles.get(root);
    if (!handle) {
      handle = this.poolOf().then(pool => pool.acquire(root));
      this.handles.set(root, handle);
    }
    return handle;
  }

  /** The pool is loaded on first use: a one-shot CLI that never asks for the view never loads it. */
  private poolOf(): Promise<InformerPool> {
    this.pool ??= (async () => {
      const [{ InformerPool }, { EtcdInformerPort }] = await Promise.all([
        import('../watch/informer-pool.js'),
        import('../watch/etcd-informer-port.js'),
      ]);
      const { options } = this.connection;
      const port = new EtcdInformerPort(this.connection.kv, {
        namespace: options.namespace,
        username: options.auth?.username,
      });
      return new InformerPool(port, {
        stallTimeout: options.watchStallTimeout,
        retry: options.watchRetry,
      });
    })();
    return this.pool;
  }
}
