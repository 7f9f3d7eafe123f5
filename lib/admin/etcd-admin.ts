import type { Observable } from 'rxjs';
import type {
  AdminHistoryEntry,
  AdminInstance,
  AdminValue,
  AffectedInstance,
  ApplyOptions,
  ApplyResult,
  AuditOptions,
  AuditRecord,
  DiffOptions,
  DiffReport,
  EtcdAdminOptions,
  HistoryOptions,
  InstanceStatus,
  KeyOptions,
  PutOptions,
  PutResult,
  RollbackOptions,
  RollbackResult,
  RolloutEvent,
  RolloutOptions,
  ServiceSummary,
  ValidationReport,
} from './admin.interfaces.js';

/**
 * The operator's core (DESIGN §10): what the fleet of a service runs, which instances a write
 * reaches, validation against the schemas they publish, compare-and-swap writes, folder diff/apply,
 * history/rollback, rollout and audit. No Nest needed; the `nest-etcd` CLI and the console are thin
 * faces over it. It uses the module's own client, codec and layer rules.
 *
 * Every method throws the module's errors: `EtcdConnectionError` / `EtcdUnavailableError` (etcd not
 * reached), `EtcdAuthError`, `EtcdPermissionError` (naming the key), and its own
 * `UnknownServiceError`, `ConfigKeyOutsidePrefixError`, `ConfigValidationError`,
 * `ConfigConflictError`.
 *
 * @example
 * ```ts
 * import { EtcdAdmin } from 'nest-etcd/admin';
 *
 * const admin = await EtcdAdmin.connect({ hosts: 'http://127.0.0.1:2379', actor: 'ci' });
 * try {
 *   const report = await admin.validate('orders', 'limits.json', '{"max": 5}');
 *   if (report.ok) await admin.put('orders', 'limits.json', '{"max": 5}');
 * } finally {
 *   await admin.close();
 * }
 * ```
 */
export class EtcdAdmin {
  private constructor(readonly options: EtcdAdminOptions) {}

  /**
   * Connects to etcd (options resolved like the module's: env `ETCD_HOSTS`, `ETCD_USERNAME`,
   * `ETCD_PASSWORD`, TLS) and checks it answers within `connectTimeout`.
   * @throws EtcdConnectionError, EtcdAuthError
   */
  static connect(options: EtcdAdminOptions = {}): Promise<EtcdAdmin> {
    return Promise.resolve(new EtcdAdmin(options));
  }

  /** Closes the client. Safe to call twice. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Every service with a registration or a status key, sorted by name. */
  services(): Promise<ServiceSummary[]> {
    return notYet('services');
  }

  /** The registered instances of a service, with lease TTL left and applied config revision. */
  instances(_service: string): Promise<AdminInstance[]> {
    return notYet('instances');
  }

  /**
   * The config status every instance of the service reports (revision applied, keys applied or
   * rejected with reasons). @throws UnknownServiceError when nothing is registered or reporting.
   */
  status(_service: string): Promise<InstanceStatus[]> {
    return notYet('status');
  }

  /**
   * Which instances a write of `etcdKey` (inside the namespace) would reach, through their
   * prefix, shared prefixes and profiles; with the higher layer that shadows it, if any.
   */
  affected(_service: string, _etcdKey: string): Promise<AffectedInstance[]> {
    return notYet('affected');
  }

  /**
   * The stored value of a key: `key` relative to the service's config prefix (or `profile`
   * overlay), or an etcd key (leading `/`) under one of its layers.
   * @throws ConfigKeyOutsidePrefixError
   */
  get(_service: string, _key: string, _options: KeyOptions = {}): Promise<AdminValue> {
    return notYet('get');
  }

  /**
   * Validates a candidate text: decoded by the key's format, merged through each affected
   * instance's layers, checked against the JSON Schema each published. Writes nothing.
   */
  validate(
    _service: string,
    _key: string,
    _text: string,
    _options: KeyOptions = {},
  ): Promise<ValidationReport> {
    return notYet('validate');
  }

  /**
   * Validates, then writes with compare-and-swap on `expectRevision`, and records an audit.
   * @throws ConfigValidationError (an instance rejects it and not `force`, or the format is wrong),
   *   ConfigConflictError (the key moved past `expectRevision`: both revisions)
   */
  put(
    _service: string,
    _key: string,
    _text: string,
    _options: PutOptions = {},
  ): Promise<PutResult> {
    return notYet('put');
  }

  /** The difference between a folder of files (one file per key) and the service's prefix. */
  diff(_service: string, _dir: string, _options: DiffOptions = {}): Promise<DiffReport> {
    return notYet('diff');
  }

  /**
   * Writes a folder of files as keys (one txn per <= 128 operations, each guarded by the revisions
   * diffed); `prune` deletes keys an earlier apply created that the folder no longer has.
   */
  apply(_service: string, _dir: string, _options: ApplyOptions = {}): Promise<ApplyResult> {
    return notYet('apply');
  }

  /** A key's revisions, newest first, each with whether it decodes and its audit record. */
  history(
    _service: string,
    _key: string,
    _options: HistoryOptions = {},
  ): Promise<AdminHistoryEntry[]> {
    return notYet('history');
  }

  /** Writes the value a key had at `revision` (validated like a put), with the diff. */
  rollback(
    _service: string,
    _key: string,
    _revision: number,
    _options: RollbackOptions = {},
  ): Promise<RollbackResult> {
    return notYet('rollback');
  }

  /**
   * Each affected instance reaching `applied` or `rejected` for the write of `etcdKey` at
   * `revision`; completes when all did, or emits `timeout` for the rest after `timeoutMs`.
   */
  rollout$(
    _service: string,
    _etcdKey: string,
    _revision: number,
    _options: RolloutOptions = {},
  ): Observable<RolloutEvent> {
    throw new Error('EtcdAdmin.rollout$ is not yet implemented');
  }

  /** The audit records of a service, newest first. */
  audit(_service: string, _options: AuditOptions = {}): Promise<AuditRecord[]> {
    return notYet('audit');
  }
}

function notYet<T>(method: string): Promise<T> {
  return Promise.reject(new Error(`EtcdAdmin.${method} is not yet implemented`));
}
