import type { ServiceInstance } from '../discovery/service-instance.interface.js';
import type { ConfigKeyStatus } from '../config/config-status.js';

/*
 * The operator's side of config (docs/cli.md): the shapes EtcdAdmin takes and returns. The CLI
 * (lib/cli/) and the console (lib/console/) render these; neither adds a rule of its own.
 */

/** Where the admin core reads and writes, inside the namespace. Every prefix ends with `/`. */
export interface EtcdAdminPrefixes {
  /**
   * Registry prefix (`registry.prefix` of the apps).
   * @default '/services/'
   */
  registry?: string;
  /**
   * Status keys of the instances (`config.reportPrefix` of the apps): `<status><svc>/<instanceId>`.
   * @default '/config-status/'
   */
  status?: string;
  /**
   * Published JSON Schemas, content-addressed: `<schemas><hash>`.
   * @default '/config-schemas/'
   */
  schemas?: string;
  /**
   * Audit records, one per write: `<audit><svc>/<revision>`.
   * @default '/config-audit/'
   */
  audit?: string;
  /**
   * What `apply` created, per service (kubectl's ApplySet): `<applySets><svc>`. `apply --prune`
   * deletes only keys recorded here.
   * @default '/config-applysets/'
   */
  applySets?: string;
  /**
   * The config prefix used when no instance of a service reports its own (no live status).
   * @default '/config/'
   */
  config?: string;
}

/**
 * How {@link EtcdAdmin.connect} reaches etcd. The same option names and environment defaults as
 * `EtcdModule.forRoot` (`ETCD_HOSTS`, `ETCD_USERNAME`, `ETCD_PASSWORD`, and the TLS file variables),
 * resolved by the module's own resolver.
 */
export interface EtcdAdminOptions {
  /**
   * etcd endpoints.
   * @default env ETCD_HOSTS (comma separated), else 'http://127.0.0.1:2379'
   */
  hosts?: string | string[];
  /**
   * etcd user.
   * @default env ETCD_USERNAME / ETCD_PASSWORD when set
   */
  auth?: { username: string; password: string };
  /** TLS material, as for the module. */
  credentials?: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer };
  /**
   * Prefix applied to every key (the apps' `namespace`).
   * @default ''
   */
  namespace?: string;
  /**
   * ms before `connect()` fails with `EtcdConnectionError`; also the bound of each call.
   * @default 5000
   */
  connectTimeout?: number;
  /**
   * Who writes, recorded in the audit of every write (a write's own `actor` wins).
   * @default `${USER}@${hostname}`
   */
  actor?: string;
  /** Key layout; defaults as in docs/cli.md ("The keys it reads and writes"). */
  prefixes?: EtcdAdminPrefixes;
  /**
   * The environment the defaults are read from (`ETCD_HOSTS`, `ETCD_USERNAME`, `ETCD_PASSWORD`,
   * `ETCD_CA_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE`), as by the module's resolver.
   * @default process.env
   */
  env?: NodeJS.ProcessEnv;
  /**
   * Keep a live view of the fleet (the registry and status prefixes, through the module's
   * informers, started on first use and stopped by `close()`) instead of reading and parsing every
   * registration and status key on each call: for long-lived faces such as the console. Answers
   * are the same; a call made before the view has listed, or while its watch is down, reads etcd.
   * @default false
   */
  watchFleet?: boolean;
}

/** One service seen in the registry or in the status keys. */
export interface ServiceSummary {
  /** The service name. */
  name: string;
  /** Live registrations under the registry prefix. */
  instances: number;
  /** Instances that report a config status. */
  reporting: number;
  /** Instances whose status has at least one rejected key. */
  rejecting: number;
}

/** A registered instance, with its lease and the config revision it applied. */
export interface AdminInstance extends ServiceInstance {
  /** Seconds left on the registration lease (`undefined`: no lease, or not readable). */
  leaseTtlLeft?: number;
  /** The etcd revision the instance applied config up to (from its status; `undefined`: no status). */
  configRevision?: number;
  /** Keys the instance rejected (from its status). */
  rejectedKeys: number;
}

/**
 * The state of one key in an instance's status, as the instance wrote it (docs/cli.md): the module's
 * own {@link ConfigKeyStatus}, one definition for the writer and its readers.
 */
export type KeyStatus = ConfigKeyStatus;

/** What an instance reports at `/config-status/<svc>/<instanceId>` (docs/cli.md). */
export interface InstanceStatus {
  serviceName: string;
  instanceId: string;
  /** Its config prefix, e.g. `/config/`. */
  prefix: string;
  /** Its shared prefixes, lowest first. */
  shared: string[];
  /** Its active profiles, lowest first. */
  profiles: string[];
  /** The etcd revision it applied config up to. */
  revision: number;
  /** Per config key (relative to the layers). */
  keys: Record<string, KeyStatus>;
  /** Whether the instance is registered right now (its registry key exists). */
  registered: boolean;
}

/** Which layer of an instance an etcd key belongs to. */
export type LayerKind = 'prefix' | 'shared' | 'profile';

/** One instance a write of an etcd key would reach. */
export interface AffectedInstance {
  instanceId: string;
  /** The config key it reads (relative to its layers). */
  configKey: string;
  /** The layer the etcd key is in, for this instance. */
  layer: LayerKind;
  /** The profile, when {@link layer} is `profile`. */
  profile?: string;
  /**
   * The etcd key of a higher layer that supplies this instance's value instead: a write here
   * changes nothing the instance serves until that key is deleted.
   */
  shadowedBy?: string;
  /** The schema hash it validates the key with (`undefined`: no schema published). */
  schema?: string;
}

/** A value of a key as stored in etcd. */
export interface AdminValue {
  /** The config key (relative to the layer). */
  key: string;
  /** The etcd key (inside the namespace). */
  etcdKey: string;
  /** The text stored (`undefined` when the key does not exist). */
  text: string | undefined;
  /** Mod revision (0 when the key does not exist): pass it as `expectRevision` to `put`. */
  revision: number;
  /** The key's version (0 when the key does not exist). */
  version: number;
  /** The format chosen by the key's name. */
  format: 'json' | 'yaml' | 'auto';
}

/** The verdict of one instance on a candidate value. */
export interface InstanceVerdict {
  instanceId: string;
  /** Whether the instance would accept it (format, then its schema). */
  ok: boolean;
  /** Why not (the schema's complaint, one line). */
  reason?: string;
  /** The schema hash checked against; `undefined` with {@link noSchema}. */
  schema?: string;
  /** True when the instance published no schema for the key (only the format was checked). */
  noSchema?: boolean;
  /** The layer the written key is in for this instance. */
  layer: LayerKind;
  /** A higher layer's etcd key that shadows the written one for this instance. */
  shadowedBy?: string;
}

/** The result of validating a candidate value. */
export interface ValidationReport {
  /** The etcd key the value would be written to. */
  etcdKey: string;
  /** The format by the key's name. */
  format: 'json' | 'yaml' | 'auto';
  /** True when the value decodes and every affected instance accepts it. */
  ok: boolean;
  /** Why the value is not a valid document of its format (then no instance was checked). */
  formatError?: string;
  /** One verdict per affected instance (empty when none would read it). */
  instances: InstanceVerdict[];
}

/** Options of {@link EtcdAdmin.get}, `validate`, `history`. */
export interface KeyOptions {
  /** Write or read under `<prefix>@<profile>/` (gray release). */
  profile?: string;
}

/** Options of {@link EtcdAdmin.put}. */
export interface PutOptions extends KeyOptions {
  /**
   * Compare-and-swap: the mod revision the caller saw (0: the key must not exist). A different
   * current revision fails with `ConfigConflictError` naming both. Omitted: no check.
   */
  expectRevision?: number;
  /** Write even when an instance would reject it (the format must still be valid). */
  force?: boolean;
  /** Who writes (overrides the connection's actor). */
  actor?: string;
}

/** Options of {@link EtcdAdmin.delete}. */
export interface DeleteOptions extends KeyOptions {
  /** Compare-and-swap: the mod revision the caller saw. Omitted: the revision read before checking. */
  expectRevision?: number;
  /** Delete even when an instance serves the key with a schema and no other layer supplies it. */
  force?: boolean;
  /** Who deletes (overrides the connection's actor). */
  actor?: string;
}

/** The result of {@link EtcdAdmin.delete}. */
export interface DeleteResult {
  etcdKey: string;
  /** The revision of the delete. */
  revision: number;
  /** The mod revision of the value deleted. */
  previousRevision: number;
  /** The instances that read the key, and what shadowed it, before the delete. */
  affected: AffectedInstance[];
  /** The audit record's key. */
  auditKey: string;
  /** Why the audit record could not be written, when it could not (the delete stands). */
  auditError?: string;
}

/** The result of a write. */
export interface PutResult {
  etcdKey: string;
  /** The revision of the write. */
  revision: number;
  /** The mod revision it replaced (0: it created the key). */
  previousRevision: number;
  /** The validation done before the write. */
  validation: ValidationReport;
  /** Where the audit record went. */
  auditKey: string;
  /** Why the audit record could not be written (the value was), if it could not. */
  auditError?: string;
}

/** One line of a text diff. */
export interface DiffLine {
  /** `' '` same, `'-'` only in the old text, `'+'` only in the new. */
  op: ' ' | '-' | '+';
  text: string;
}

/** One key in a folder diff or apply. */
export interface KeyChange {
  /** The etcd key. */
  etcdKey: string;
  /** The file it comes from (relative to the folder), absent for a prune. */
  file?: string;
  action: 'create' | 'update' | 'delete' | 'unchanged';
  /** The mod revision in etcd before (0: absent). */
  revision: number;
  /** The lines that differ (empty for `unchanged`). */
  diff: DiffLine[];
}

/** Options of {@link EtcdAdmin.diff}. */
export interface DiffOptions extends KeyOptions {
  /** Also list the keys `apply --prune` would delete. */
  prune?: boolean;
}

/** The difference between a folder and etcd. */
export interface DiffReport {
  /** Every file's key (and prunable keys with `prune`), sorted by etcd key. */
  changes: KeyChange[];
  /** True when at least one key would change (kubectl diff: exit 1). */
  changed: boolean;
}

/** Options of {@link EtcdAdmin.apply}. */
export interface ApplyOptions extends DiffOptions {
  /** Compute and validate, write nothing. */
  dryRun?: boolean;
  /** Write even when an instance would reject a value (formats must still be valid). */
  force?: boolean;
  /** Who writes. */
  actor?: string;
}

/** The result of an apply. */
export interface ApplyResult extends DiffReport {
  /** Validation of each created or updated key. */
  validations: ValidationReport[];
  /** The revision of each txn written (one per <= 128 operations); empty for a dry run or no change. */
  revisions: number[];
  /** The last revision written (0 when nothing was). */
  revision: number;
}

/** One revision of a key. */
export interface AdminHistoryEntry {
  revision: number;
  version: number;
  deleted: boolean;
  /** The text at that revision (`undefined` for a delete). */
  text: string | undefined;
  /** Whether the text is a valid document of the key's format. */
  decodes: boolean;
  /** Why it does not decode. */
  reason?: string;
  /** The audit record of that write, when it went through the admin core. */
  audit?: AuditRecord;
}

/** Options of {@link EtcdAdmin.history}. */
export interface HistoryOptions extends KeyOptions {
  /** @default 20 */
  limit?: number;
}

/** Options of {@link EtcdAdmin.rollback}. */
export interface RollbackOptions extends KeyOptions {
  actor?: string;
  /** Write even when an instance would reject the old value. */
  force?: boolean;
}

/** The result of a rollback. */
export interface RollbackResult extends PutResult {
  /** The revision whose value was restored. */
  restoredRevision: number;
  /** From the current text to the restored one. */
  diff: DiffLine[];
}

/** One event of a rollout (kubectl rollout status, for config). */
export interface RolloutEvent {
  instanceId: string;
  /**
   * `applied`/`rejected`: the instance's status reached the revision; `shadowed`: a higher layer
   * supplies its value (nothing changes for it); `gone`: its status key vanished (it stopped);
   * `timeout`: it did not report in time.
   */
  state: 'applied' | 'rejected' | 'shadowed' | 'gone' | 'timeout';
  /** The rejection reason. */
  reason?: string;
  /** The revision the instance serves for the key now. */
  servedRevision?: number;
}

/** Options of {@link EtcdAdmin.rollout$}. */
export interface RolloutOptions {
  /** @default 30000 */
  timeoutMs?: number;
}

/** One write recorded at `/config-audit/<svc>/<revision>`. */
export interface AuditRecord {
  /** Who (`actor`). */
  actor: string;
  /** ISO time. */
  time: string;
  /** The etcd key written (the first one for an apply). */
  etcdKey: string;
  /** Every key an apply wrote or deleted. */
  keys?: string[];
  action: 'put' | 'delete' | 'apply' | 'rollback';
  /** The mod revision before (0: absent). */
  oldRevision: number;
  /** The resulting revision. */
  newRevision: number;
  /** For a rollback: the revision restored. */
  restoredRevision?: number;
  /** Written with `force` past an instance's rejection. */
  forced?: boolean;
}

/** Options of {@link EtcdAdmin.audit}. */
export interface AuditOptions {
  /** @default 50 */
  limit?: number;
}
