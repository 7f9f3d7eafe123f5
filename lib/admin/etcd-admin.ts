import type { Observable } from 'rxjs';
import { EtcdConnection } from '../client/etcd-connection.js';
import { formatOf } from '../config/config-codec.js';
import { InvalidOptionsError } from '../errors/invalid-options.error.js';
import { resolveEtcdOptions } from '../options/etcd-options.resolver.js';
import type {
  AdminHistoryEntry,
  AdminInstance,
  AdminValue,
  AffectedInstance,
  ApplyOptions,
  ApplyResult,
  AuditOptions,
  AuditRecord,
  DeleteOptions,
  DeleteResult,
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
import { AdminContext, defaultActor, keyOf, resolvePrefixes, textOf } from './admin-context.js';
import { AuditLog } from './audit-log.js';
import { CandidateValidation } from './candidate-validation.js';
import { type KeyTarget, ownPrefix, resolveKey } from './fleet-layers.js';
import { type Fleet, FleetReader } from './fleet-reader.js';
import { FleetView } from './fleet-view.js';
import { deleteKey } from './key-delete.js';
import { FolderApply } from './folder-apply.js';
import { HistoryCache, readHistory } from './key-history.js';
import { followRollout } from './rollout.js';
import { SchemaChecker } from './schema-checker.js';
import { rollbackKey, writeKey } from './key-write.js';

/**
 * The operator's core (docs/cli.md): what the fleet of a service runs, which instances a write
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
  private readonly fleetReader: FleetReader;
  private readonly schemas: SchemaChecker;
  private readonly auditLog: AuditLog;
  private readonly folders: FolderApply;
  private readonly view: FleetView | undefined;
  /** Histories already read, for a long-lived admin (`watchFleet`). */
  private readonly histories: HistoryCache | undefined;

  private constructor(
    private readonly ctx: AdminContext,
    watchFleet: boolean,
    /** False for an admin built on a connection it was lent ({@link fromConnection}). */
    private readonly ownsConnection = true,
  ) {
    this.view = watchFleet ? new FleetView(ctx.connection) : undefined;
    this.histories = watchFleet ? new HistoryCache(ctx) : undefined;
    this.fleetReader = new FleetReader(ctx, this.view);
    this.schemas = new SchemaChecker(ctx);
    this.auditLog = new AuditLog(ctx);
    this.folders = new FolderApply(ctx, this.auditLog);
  }

  /**
   * Connects to etcd (options resolved like the module's: env `ETCD_HOSTS`, `ETCD_USERNAME`,
   * `ETCD_PASSWORD`, TLS) and checks it answers within `connectTimeout`.
   * @throws EtcdConnectionError, EtcdAuthError, InvalidOptionsError
   */
  static async connect(options: EtcdAdminOptions = {}): Promise<EtcdAdmin> {
    const { actor, prefixes, env, watchFleet, ...connection } = options;
    const resolved = resolveEtcdOptions(
      { ...connection, config: false, registry: false },
      env ?? process.env,
    );
    const ctx = new AdminContext(
      new EtcdConnection(resolved),
      resolvePrefixes(prefixes),
      actor ?? defaultActor(),
    );
    try {
      await ctx.connection.connect();
    } catch (err) {
      ctx.connection.close();
      throw err;
    }
    return new EtcdAdmin(ctx, watchFleet === true);
  }

  /**
   * An admin on a connection that already exists (the `EtcdModule`'s, which `EtcdConsoleModule`
   * uses when the host has one): no second etcd client. Its `close()` releases what the admin
   * holds (the fleet view) and never closes the connection, which stays its owner's. Connection
   * fields of `options` (hosts, auth, TLS, namespace) are the connection's and are ignored.
   */
  static fromConnection(
    connection: EtcdConnection,
    options: Pick<EtcdAdminOptions, 'actor' | 'prefixes' | 'watchFleet'> = {},
  ): EtcdAdmin {
    const ctx = new AdminContext(
      connection,
      resolvePrefixes(options.prefixes),
      options.actor ?? defaultActor(),
    );
    return new EtcdAdmin(ctx, options.watchFleet === true, false);
  }

  /** Who writes when a call gives no `actor`. */
  get actor(): string {
    return this.ctx.actor;
  }

  /**
   * Releases the fleet view's watchers, then closes the client, unless the connection was lent
   * ({@link fromConnection}). Safe to call twice.
   */
  async close(): Promise<void> {
    await this.view?.close();
    if (this.ownsConnection) this.ctx.connection.close();
  }

  /** Every service with a registration or a status key, sorted by name. */
  services(): Promise<ServiceSummary[]> {
    return this.fleetReader.services();
  }

  /**
   * The registered instances of a service, with lease TTL left and applied config revision.
   * @throws UnknownServiceError
   */
  instances(service: string): Promise<AdminInstance[]> {
    return this.fleetReader.instances(service);
  }

  /**
   * The config status every instance of the service reports (revision applied, keys applied or
   * rejected with reasons). @throws UnknownServiceError when nothing is registered or reporting.
   */
  async status(service: string): Promise<InstanceStatus[]> {
    return (await this.fleetReader.fleet(service)).statuses;
  }

  /**
   * Which instances a write of `etcdKey` (inside the namespace) would reach, through their
   * prefix, shared prefixes and profiles; with the higher layer that shadows it, if any.
   */
  async affected(service: string, etcdKey: string): Promise<AffectedInstance[]> {
    const fleet = await this.fleetReader.fleet(service);
    return this.validation(fleet).affected(etcdKey);
  }

  /**
   * The stored value of a key: `key` relative to the service's config prefix (or `profile`
   * overlay), or an etcd key (leading `/`) under one of its layers.
   * @throws ConfigKeyOutsidePrefixError
   */
  async get(service: string, key: string, options: KeyOptions = {}): Promise<AdminValue> {
    const { target, fleet } = await this.target(service, key, options.profile);
    const kv = await this.ctx.read(target.etcdKey, 'read');
    const base = target.etcdKey.startsWith(ownPrefix(fleet, this.ctx.prefixes.config))
      ? ownPrefix(fleet, this.ctx.prefixes.config) +
        (options.profile !== undefined ? `@${options.profile}/` : '')
      : '';
    return {
      key: base ? target.etcdKey.slice(base.length) : target.etcdKey,
      etcdKey: target.etcdKey,
      text: kv ? textOf(kv) : undefined,
      revision: kv ? Number(kv.mod_revision) : 0,
      version: kv ? Number(kv.version) : 0,
      format: target.format,
    };
  }

  /**
   * Validates a candidate text: decoded by the key's format, placed in each affected instance's
   * layers, checked against the JSON Schema each published. Writes nothing.
   */
  async validate(
    service: string,
    key: string,
    text: string,
    options: KeyOptions = {},
  ): Promise<ValidationReport> {
    const { target, fleet } = await this.target(service, key, options.profile);
    return this.validation(fleet).validate(target, text);
  }

  /**
   * Validates, then writes with compare-and-swap on `expectRevision` (default: the revision read
   * before validating), and records an audit.
   * @throws ConfigValidationError (an instance rejects it and not `force`, or the format is wrong),
   *   ConfigConflictError (the key moved past the expected revision: both revisions)
   */
  async put(
    service: string,
    key: string,
    text: string,
    options: PutOptions = {},
  ): Promise<PutResult> {
    const { target, fleet } = await this.target(service, key, options.profile);
    return writeKey(
      this.ctx,
      this.auditLog,
      this.validation(fleet),
      fleet.service,
      target,
      text,
      options,
    );
  }

  /**
   * Deletes a key of a layer of the service (`profile`: drop a gray release, its instances fall
   * back to the layers below), compare-and-swap on `expectRevision` (default: the revision read
   * before checking), with an audit record. A key an unshadowed instance serves from a layer
   * without a profile, with a published schema, is refused unless `force`: the instance would be
   * left without a value its schema describes (as validate reports a value it rejects).
   * @throws ConfigKeyOutsidePrefixError, ConfigValidationError (nothing to delete, or refused),
   *   ConfigConflictError
   */
  async delete(service: string, key: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    const { target, fleet } = await this.target(service, key, options.profile);
    return deleteKey(
      this.ctx,
      this.auditLog,
      this.validation(fleet),
      fleet.service,
      target,
      options,
    );
  }

  /** The difference between a folder of files (one file per key) and the service's prefix. */
  async diff(service: string, dir: string, options: DiffOptions = {}): Promise<DiffReport> {
    const fleet = await this.fleetReader.fleet(service);
    return this.folders.diff(fleet, dir, options);
  }

  /**
   * Writes a folder of files as keys (one txn per <= 128 operations, each guarded by the revisions
   * diffed; a conflict stops before its txn, earlier txns stay written); `prune` deletes keys an
   * earlier apply created that the folder no longer has. Every created or updated value is
   * validated first; nothing is written when one is refused.
   * @throws ConfigValidationError, ConfigConflictError
   */
  async apply(service: string, dir: string, options: ApplyOptions = {}): Promise<ApplyResult> {
    const fleet = await this.fleetReader.fleet(service);
    return this.folders.apply(fleet, dir, this.validation(fleet), options);
  }

  /** A key's revisions, newest first, each with whether it decodes and its audit record. */
  async history(
    service: string,
    key: string,
    options: HistoryOptions = {},
  ): Promise<AdminHistoryEntry[]> {
    const limit = options.limit ?? 20;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new InvalidOptionsError('limit', limit, 'a positive integer');
    }
    const { target } = await this.target(service, key, options.profile);
    const [entries, audits] = await Promise.all([
      this.histories
        ? this.histories.read(target.etcdKey, limit)
        : readHistory(this.ctx, target.etcdKey, limit),
      this.auditLog.byRevision(service),
    ]);
    for (const entry of entries) {
      const audit = audits.get(entry.revision);
      if (audit) entry.audit = audit;
    }
    return entries;
  }

  /**
   * Writes the value a key had at `revision` (validated like a put, compare-and-swap on the
   * current revision), with the diff from the current text.
   * @throws ConfigValidationError when the key had no value at that revision
   */
  async rollback(
    service: string,
    key: string,
    revision: number,
    options: RollbackOptions = {},
  ): Promise<RollbackResult> {
    if (!Number.isInteger(revision) || revision < 1) {
      throw new InvalidOptionsError('revision', revision, 'a positive integer etcd revision');
    }
    const { target, fleet } = await this.target(service, key, options.profile);
    return rollbackKey(
      this.ctx,
      this.auditLog,
      this.validation(fleet),
      fleet.service,
      target,
      revision,
      options,
    );
  }

  /**
   * Each affected instance reaching `applied` or `rejected` for the write of `etcdKey` at
   * `revision`; completes when all did, or emits `timeout` for the rest after `timeoutMs`.
   */
  rollout$(
    service: string,
    etcdKey: string,
    revision: number,
    options: RolloutOptions = {},
  ): Observable<RolloutEvent> {
    return followRollout(
      this.ctx,
      async () => {
        const fleet = await this.fleetReader.fleet(service);
        return { fleet, validation: this.validation(fleet) };
      },
      etcdKey,
      revision,
      options.timeoutMs ?? 30_000,
    );
  }

  /** The audit records of a service, newest first. */
  audit(service: string, options: AuditOptions = {}): Promise<AuditRecord[]> {
    return this.auditLog.list(service, options.limit ?? 50);
  }

  private validation(fleet: Fleet): CandidateValidation {
    return new CandidateValidation(this.ctx, this.schemas, fleet);
  }

  /**
   * Every key stored under the service's own config prefix (or, with `profile`, its overlay),
   * sorted by key: one fleet read and one range read, where `get` per key reads the fleet each
   * time (the console's config page lists 500 keys with it). Overlays (`@<profile>/...`) are not
   * listed as keys of the base prefix.
   */
  async list(service: string, options: KeyOptions = {}): Promise<AdminValue[]> {
    const fleet = await this.fleetReader.fleet(service);
    const base =
      ownPrefix(fleet, this.ctx.prefixes.config) +
      (options.profile !== undefined ? `@${options.profile}/` : '');
    const kvs = await this.ctx.list(base, 'list');
    return kvs
      .map(kv => ({ kv, etcdKey: keyOf(kv) }))
      .filter(({ etcdKey }) => options.profile !== undefined || !etcdKey.startsWith(`${base}@`))
      .map(({ kv, etcdKey }) => ({
        key: etcdKey.slice(base.length),
        etcdKey,
        text: textOf(kv),
        revision: Number(kv.mod_revision),
        version: Number(kv.version),
        format: formatOf(etcdKey),
      }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private async target(
    service: string,
    key: string,
    profile: string | undefined,
  ): Promise<{ fleet: Fleet; target: KeyTarget }> {
    const fleet = await this.fleetReader.fleet(service);
    return { fleet, target: resolveKey(fleet, key, profile, this.ctx.prefixes.config) };
  }
}
