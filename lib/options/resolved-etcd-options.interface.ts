import type { EtcdMetricsRegistry } from './etcd-module-options.interface.js';

/** Consecutive connection failures that eject an instance (`passiveHealth.failures`). @internal */
export const DEFAULT_EJECT_FAILURES = 3;
/** How long (ms) an ejected instance is left out (`passiveHealth.ejectFor`). @internal */
export const DEFAULT_EJECT_FOR_MS = 10_000;

/** Options after defaults and validation: what the rest of the module works with. @internal */
export interface ResolvedEtcdOptions {
  hosts: string[];
  auth?: { username: string; password: string };
  credentials?: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer };
  namespace: string;
  connectTimeout: number;
  config:
    | false
    | {
        prefix: string;
        snapshotFile?: string;
        snapshotDebounce: number;
        shared: string[];
        profiles: string[];
        nestConfig: boolean;
        /** Whether to keep a status key (only while this app registers itself). */
        report: boolean;
        reportPrefix: string;
        maxValueBytes: number;
      };
  registry:
    | false
    | {
        serviceName: string;
        instanceId: string;
        host: string;
        port?: number;
        metadata: Record<string, unknown>;
        weight: number;
        ttl: number;
        autoRegister: boolean;
        drainDelay: number;
      };
  /** Prefix of the registry (`registry.prefix`), also when this app does not register itself. */
  registryPrefix: string;
  /** Zone (`registry.zone`, env `ETCD_ZONE`) and passive health of calls through the registry. */
  discovery: ResolvedDiscoveryOptions;
  retry: { initialDelay: number; maxDelay: number };
  /** Backoff of watch resumes: `retry` when it is set, else client-go's 800 ms -> 30 s. */
  watchRetry: { initialDelay: number; maxDelay: number };
  /** `false`, or how often (ms) the client follows the cluster's member list. */
  autoSyncEndpoints: false | { interval: number };
  watchStallTimeout: number;
  keepaliveInterval: number;
  keepaliveTimeout: number;
  /** `false`, or where the metrics go (`registry` undefined: prom-client's default register). */
  metrics: false | { registry?: EtcdMetricsRegistry };
}

/** Calls-through-the-registry settings after defaults and validation. @internal */
export interface ResolvedDiscoveryOptions {
  /** This app's zone: `registry.zone`, else env `ETCD_ZONE`; published as `metadata.zone`. */
  zone?: string;
  passiveHealth: { failures: number; ejectFor: number };
}
