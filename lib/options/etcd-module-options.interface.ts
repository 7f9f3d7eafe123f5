/**
 * Options of the configuration center. Pass `false` to turn the config center off.
 */
export interface EtcdConfigOptions {
  /**
   * Key prefix under which config keys live: key `greeting` is stored at `<prefix>greeting`.
   * @default '/config/'
   */
  prefix?: string;
  /**
   * Path of a last-known-good copy of the config, written atomically after changes. When etcd is
   * unreachable at boot and this file holds a valid snapshot, the app boots from it and resyncs once
   * etcd answers.
   */
  snapshotFile?: string;
  /**
   * How long (ms) to wait after a change before writing the snapshot file.
   * @default 1000
   */
  snapshotDebounce?: number;
  /**
   * Prefixes read below the app's own keys, lowest first (e.g. `['/config/shared/']`): a key found
   * there is served unless the app's prefix (or an active profile) also has it.
   * @default []
   */
  shared?: string[];
  /**
   * Active profiles, lowest first: `<prefix>@<profile>/<key>` overrides `<prefix><key>` while the
   * profile is active (later profiles win). This is gray release: put a key under `@canary/` and
   * start canary instances with `ETCD_CONFIG_PROFILES=canary`.
   * @default env `ETCD_CONFIG_PROFILES` (comma separated), else none
   */
  profiles?: string[];
  /**
   * Mirror every effective value into `@nestjs/config`'s `ConfigService` (install `@nestjs/config`
   * and import `ConfigModule.forRoot()`), live: `configService.get('greeting')` follows etcd.
   * @default false
   */
  nestConfig?: boolean;
  /**
   * Keep a config status key while this app is registered: `<reportPrefix><serviceName>/<instanceId>`
   * under the registration lease, saying per key which revision it serves and what it refused, and
   * publish the JSON Schemas of its definitions at `/config-schemas/<hash>` (operators' tools read
   * both). Only with `registry` on; `false` turns it off.
   * @default true
   */
  report?: boolean;
  /**
   * Prefix of the status keys.
   * @default '/config-status/'
   */
  reportPrefix?: string;
  /**
   * Largest value (bytes) the config center decodes. A larger value is rejected with one warning
   * naming the key and the limit; the last good value is kept. Values are decoded when first read,
   * and large YAML documents off the event loop (docs/config.md, "Large values").
   * @default 1048576 (1 MiB)
   */
  maxValueBytes?: number;
}

/**
 * Options of the service registry. Omit them (or pass `false`) and discovery still works, but the app
 * does not register itself.
 */
export interface EtcdRegistryOptions {
  /** Name under which this app registers: key `<prefix><serviceName>/<instanceId>`. */
  serviceName: string;
  /**
   * Unique id of this instance.
   * @default `${hostname}-${pid}-${random suffix}`
   */
  instanceId?: string;
  /**
   * Host other services use to reach this instance.
   * @default the first non-internal IPv4 address (127.0.0.1 when there is none)
   */
  host?: string;
  /**
   * Port other services use to reach this instance.
   * @default the port the HTTP server actually listens on (required in a standalone application context)
   */
  port?: number;
  /** Free-form metadata published with the instance (version, zone, ...). */
  metadata?: Record<string, unknown>;
  /**
   * Relative weight for the `weighted` load-balancing strategy.
   * @default 1
   */
  weight?: number;
  /**
   * Lease time-to-live in seconds: a dead instance disappears at most this long after it stopped
   * heart-beating.
   * @default 10 (minimum 2)
   */
  ttl?: number;
  /**
   * Key prefix of the registry.
   * @default '/services/'
   */
  prefix?: string;
  /**
   * Register automatically on application bootstrap and deregister on shutdown.
   * @default true
   */
  autoRegister?: boolean;
  /**
   * This app's zone (availability zone, rack, data center): published as `metadata.zone`, and
   * `choose()` / `fetch()` prefer instances of the same zone while any is available.
   * @default env `ETCD_ZONE` (none when unset)
   */
  zone?: string;
  /**
   * Draining, in ms: on shutdown the key is removed first, then the app waits this long before its
   * servers close, so callers stop routing to it before it stops answering (requests in flight
   * finish as usual). Set it to how long your callers take to see a removal, e.g. `2000`.
   * @default 0
   */
  drainDelay?: number;
}

/**
 * Retry timing for re-registering after a lost lease, and for resuming a broken watch.
 *
 * When `retry` is not set, watches resume with client-go's reflector backoff instead: 800 ms doubling
 * up to 30 s, spread by a jitter factor of 1.0 (so a fleet that lost etcd at the same moment does not
 * come back in the same millisecond), reset after 30 s of a healthy watch. When it is set, watches
 * use its `initialDelay` and `maxDelay` with that same spread.
 */
export interface EtcdRetryOptions {
  /**
   * First delay in ms (full jitter is applied).
   * @default 100
   */
  initialDelay?: number;
  /**
   * Largest delay in ms.
   * @default 3000
   */
  maxDelay?: number;
}

/** Options of `EtcdModule.forRoot()`. Every field is optional. */
export interface EtcdModuleOptions {
  /**
   * etcd endpoints, e.g. `'http://127.0.0.1:2379'` or `['https://etcd-1:2379', 'https://etcd-2:2379']`.
   * @default env `ETCD_HOSTS` (comma separated), else 'http://127.0.0.1:2379'
   */
  hosts?: string | string[];
  /**
   * Username and password for etcd authentication.
   * @default env `ETCD_USERNAME` / `ETCD_PASSWORD` when both are set; else the `user:password@` of
   *   the hosts' URLs (which must then all carry the same; refused next to this option or the env)
   */
  auth?: { username: string; password: string };
  /**
   * TLS material: the CA that signed the server certificate, plus a client certificate for mTLS.
   * @default read at boot from the files named by env `ETCD_CA_FILE` (rootCertificate),
   *   `ETCD_CERT_FILE` (certChain) and `ETCD_KEY_FILE` (privateKey) when set, else none
   */
  credentials?: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer };
  /** Prefix applied to every key the module touches (tenant isolation). */
  namespace?: string;
  /**
   * Boot fails with `EtcdConnectionError` when etcd does not answer within this many ms.
   * @default 5000
   */
  connectTimeout?: number;
  /**
   * Register the module globally.
   * @default true
   */
  isGlobal?: boolean;
  /** Config center options; `false` turns it off. */
  config?: false | EtcdConfigOptions;
  /** Service registry options; omitted or `false`: this app does not register itself. */
  registry?: false | EtcdRegistryOptions;
  /**
   * Passive health of calls through the registry (`registry.fetch()`, `EtcdClientProxy`): an
   * instance whose calls fail at the connection level `failures` times in a row is left out of
   * `choose()` and `fetch()` for `ejectFor` ms (never every instance of a service at once).
   * @default { failures: 3, ejectFor: 10000 }
   */
  passiveHealth?: PassiveHealthOptions;
  /** Backoff for re-register loops and watch resumes (see {@link EtcdRetryOptions}). */
  retry?: EtcdRetryOptions;
  /**
   * Follow the cluster's member list, as etcd's Go client does with `AutoSyncInterval`: every
   * `interval` ms the client asks etcd for its members (`MemberList`) and, when their client URLs
   * differ from the hosts it uses, switches to them (one log line). An app configured with the
   * first members of a cluster keeps working after every one of them was replaced. `false` keeps
   * the configured `hosts` for ever (e.g. behind a load balancer or a proxy whose address is not a
   * member's).
   * @default true (every 30000 ms)
   */
  autoSyncEndpoints?: boolean | EtcdAutoSyncOptions;
  /**
   * A watch that delivered nothing for this many ms is treated as broken and rebuilt (re-list and diff,
   * then watch again).
   * @default 60000
   */
  watchStallTimeout?: number;
  /**
   * gRPC keep-alive ping interval in ms; a connection that does not answer a ping within
   * `keepaliveTimeout` is dropped and re-established.
   * @default 10000
   */
  keepaliveInterval?: number;
  /**
   * @default 5000
   */
  keepaliveTimeout?: number;
  /**
   * Prometheus metrics (`nest_etcd_*`, see docs/operations.md), published in prom-client's default
   * registry (`true`) or the given one. Needs the optional peer dependency `prom-client`.
   * @default false
   */
  metrics?: boolean | EtcdMetricsOptions;
}

/** How often the client follows the cluster's member list. */
export interface EtcdAutoSyncOptions {
  /**
   * Interval in ms between two member-list reads.
   * @default 30000
   */
  interval?: number;
}

/** Where the Prometheus metrics go. */
export interface EtcdMetricsOptions {
  /**
   * A prom-client `Registry`.
   * @default prom-client's default `register`
   */
  registry?: EtcdMetricsRegistry;
}

/** The part of a prom-client `Registry` the module uses (so this type needs no prom-client). */
export interface EtcdMetricsRegistry {
  metrics(): Promise<string>;
  getSingleMetric(name: string): unknown;
  removeSingleMetric(name: string): void;
}

/** Passive health: ejection of instances whose calls fail at the connection level. */
export interface PassiveHealthOptions {
  /**
   * Consecutive connection failures that eject an instance.
   * @default 3
   */
  failures?: number;
  /**
   * How long (ms) an ejected instance is left out of `choose()` and `fetch()`.
   * @default 10000
   */
  ejectFor?: number;
}
