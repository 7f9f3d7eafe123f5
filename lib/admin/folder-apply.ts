import { decodeByFormat, formatOf } from '../config/config-codec.js';
import { ConfigConflictError } from '../errors/config-conflict.error.js';
import { ConfigValidationError } from '../errors/config-validation.error.js';
import type {
  ApplyOptions,
  ApplyResult,
  DiffOptions,
  DiffReport,
  ValidationReport,
} from './admin.interfaces.js';
import type { AdminContext } from './admin-context.js';
import type { AuditLog } from './audit-log.js';
import type { CandidateValidation } from './candidate-validation.js';
import { resolveKey } from './fleet-layers.js';
import type { Fleet } from './fleet-reader.js';
import {
  applySetKey,
  MAX_TXN_OPS,
  planChanges,
  readApplySet,
  readFolder,
  type PlannedChange,
} from './folder-files.js';

/**
 * `diff` and `apply` of a folder of files (one file per key, kubectl's way): the plan, the
 * validation of every written value, one txn per <= 128 operations guarded by the revisions
 * diffed, the ApplySet record that limits `prune`, an audit record per txn. @internal
 */
export class FolderApply {
  constructor(
    private readonly ctx: AdminContext,
    private readonly auditLog: AuditLog,
  ) {}

  /** The difference between a folder and the service's keys. */
  async diff(fleet: Fleet, dir: string, options: DiffOptions): Promise<DiffReport> {
    const { changes } = await this.plan(fleet, dir, options);
    return report(changes);
  }

  async apply(
    fleet: Fleet,
    dir: string,
    validation: CandidateValidation,
    options: ApplyOptions,
  ): Promise<ApplyResult> {
    const service = fleet.service;
    const { changes, applySet } = await this.plan(fleet, dir, options);
    const writes = changes.filter(c => c.action === 'create' || c.action === 'update');
    const validations = await Promise.all(
      writes.map(c =>
        validation.validate({ etcdKey: c.etcdKey, format: formatOf(c.etcdKey) }, c.text!),
      ),
    );
    const problems = validations.flatMap(v => problemsOf(v, options.force === true));
    if (problems.length > 0) {
      throw new ConfigValidationError(
        problems[0]!.etcdKey,
        problems.map(p => p.problem),
      );
    }
    const result: ApplyResult = { ...report(changes), validations, revisions: [], revision: 0 };
    if (options.dryRun) return result;
    const ops = changes.filter(c => c.action !== 'unchanged');
    const folderKeys = changes.filter(c => c.action !== 'delete').map(c => c.etcdKey);
    const kept = new Set(applySet.keys);
    for (const key of folderKeys) kept.add(key);
    const actor = options.actor ?? this.ctx.actor;
    for (let i = 0; i < ops.length; i += MAX_TXN_OPS - 1) {
      const chunk = ops.slice(i, i + MAX_TXN_OPS - 1);
      for (const change of chunk) if (change.action === 'delete') kept.delete(change.etcdKey);
      const revision = await this.commitChunk(service, chunk, [...kept].sort());
      result.revisions.push(revision);
      result.revision = revision;
      await this.auditLog.record(service, {
        actor,
        time: this.ctx.isoNow(),
        etcdKey: chunk[0]!.etcdKey,
        keys: chunk.map(c => c.etcdKey),
        action: 'apply',
        oldRevision: chunk[0]!.revision,
        newRevision: revision,
        ...(options.force ? { forced: true } : {}),
      });
    }
    return result;
  }

  private async plan(
    fleet: Fleet,
    dir: string,
    options: DiffOptions,
  ): Promise<{ changes: PlannedChange[]; applySet: { keys: string[] } }> {
    const service = fleet.service;
    // the folder's keys live where a relative key would: the own prefix (or its profile overlay)
    const probe = resolveKey(fleet, 'x', options.profile, this.ctx.prefixes.config);
    const base = probe.etcdKey.slice(0, -1);
    let files;
    try {
      files = await readFolder(dir, base);
    } catch (err) {
      throw new ConfigValidationError(dir, [
        {
          reason: `cannot read folder ${dir}: ${err instanceof Error ? err.message : String(err)}`,
        },
      ]);
    }
    const formatErrors = files.flatMap(file => {
      const decoded = decodeByFormat(file.text, formatOf(file.etcdKey));
      return decoded.ok ? [] : [{ reason: `${file.file}: ${decoded.reason}` }];
    });
    if (formatErrors.length > 0) throw new ConfigValidationError(base, formatErrors);
    const applySet = await readApplySet(this.ctx, service);
    const changes = await planChanges(this.ctx, base, files, applySet, options.prune === true);
    return { changes, applySet };
  }

  private async commitChunk(
    service: string,
    chunk: PlannedChange[],
    applySet: string[],
  ): Promise<number> {
    const kv = this.ctx.kv;
    const first = chunk[0]!;
    let txn = kv.if(first.etcdKey, 'Mod', '==', first.revision);
    for (const change of chunk.slice(1))
      txn = txn.and(change.etcdKey, 'Mod', '==', change.revision);
    const ops = chunk.map(change =>
      change.action === 'delete'
        ? kv.delete().key(change.etcdKey)
        : kv.put(change.etcdKey).value(change.text!),
    );
    const setKey = applySetKey(this.ctx, service);
    const res = await this.ctx.call('apply', first.etcdKey, () =>
      txn.then(...ops, kv.put(setKey).value(JSON.stringify({ keys: applySet }))).commit(),
    );
    if (!res.succeeded) {
      for (const change of chunk) {
        const now = await this.ctx.read(change.etcdKey, 'read');
        const actual = now ? Number(now.mod_revision) : 0;
        if (actual !== change.revision) {
          throw new ConfigConflictError(change.etcdKey, change.revision, actual);
        }
      }
      throw new ConfigConflictError(first.etcdKey, first.revision, first.revision);
    }
    return Number(res.header.revision);
  }
}

function report(changes: PlannedChange[]): DiffReport {
  return {
    changes: changes.map(({ text: _text, ...change }) => change),
    changed: changes.some(c => c.action !== 'unchanged'),
  };
}

/** The reasons a validated value may not be written (`force` passes schema rejections). @internal */
export function problemsOf(
  validation: ValidationReport,
  force: boolean,
): Array<{ etcdKey: string; problem: { instanceId?: string; reason: string } }> {
  if (validation.formatError !== undefined) {
    return [{ etcdKey: validation.etcdKey, problem: { reason: validation.formatError } }];
  }
  if (force) return [];
  return validation.instances
    .filter(v => !v.ok)
    .map(v => ({
      etcdKey: validation.etcdKey,
      problem: { instanceId: v.instanceId, reason: v.reason ?? 'rejected' },
    }));
}
