import type { EtcdAdmin } from '../admin/etcd-admin.js';
import type { EtcdAdminOptions } from '../admin/admin.interfaces.js';

/**
 * The request as the console reads it: the fields express and fastify requests share. The console
 * reads headers (cookie, origin, host), the parsed body of its own forms, and passes the request to
 * `actor`.
 */
export interface ConsoleRequest {
  readonly method?: string;
  readonly url?: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body?: unknown;
  /** Set by the host's authentication (passport and the like), when it has one. */
  readonly user?: { id?: unknown; name?: unknown } & Record<string, unknown>;
}

/** Options of {@link EtcdConsoleModule.forRoot}. */
export interface EtcdConsoleOptions {
  /**
   * Where the console is mounted, below the host's global prefix (and `RouterModule` path, if the
   * host mounts the module there).
   * @default 'etcd'
   */
  path?: string;
  /**
   * Read-only: every POST is refused (403). Set `false` to edit, publish, roll back, promote and
   * drop config through the console.
   * @default true
   */
  readOnly?: boolean;
  /**
   * Who is acting, recorded in the audit of every write.
   * @default req => req.user?.id ?? req.user?.name ?? 'anonymous'
   */
  actor?: (req: ConsoleRequest) => string;
  /**
   * The admin core the console renders. Omitted: the console connects its own `EtcdAdmin` with
   * {@link connection} (closed with the app).
   */
  admin?: EtcdAdmin;
  /**
   * How the console's own `EtcdAdmin` reaches etcd when {@link admin} is omitted. Same names and
   * environment defaults as `EtcdModule.forRoot` (`ETCD_HOSTS`, `ETCD_USERNAME`, `ETCD_PASSWORD`).
   * Omitted in a host that imports `EtcdModule`: the console uses the module's connection.
   * @default {}
   */
  connection?: EtcdAdminOptions;
  /**
   * A line shown at the top of every page, e.g. who may reach the console.
   */
  banner?: string;
  /**
   * ms between two refreshes of a page's live tables (server-sent events).
   * @default 2000
   */
  refreshInterval?: number;
}

/** The options with their defaults applied. Internal. */
export interface ResolvedConsoleOptions {
  path: string;
  readOnly: boolean;
  actor: (req: ConsoleRequest) => string;
  banner: string | undefined;
  refreshInterval: number;
}
