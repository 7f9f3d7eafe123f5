import type { IKeyValue } from 'etcd3';
import { ConfigConflictError } from '../errors/config-conflict.error.js';
import { ConfigValidationError } from '../errors/config-validation.error.js';
import type {
  AuditRecord,
  PutOptions,
  PutResult,
  RollbackOptions,
  RollbackResult,
} from './admin.interfaces.js';
import { type AdminContext, textOf } from './admin-context.js';
import type { AuditLog } from './audit-log.js';
import type { CandidateValidation } from './candidate-validation.js';
import type { KeyTarget } from './fleet-layers.js';
import { problemsOf } from './folder-apply.js';
import { diffLines } from './text-diff.js';

/**
 * The key as it is now and its mod revision (0: absent), refused with `ConfigConflictError` when the
 * caller expected another revision. @internal
 */
export async function readExpected(
  ctx: AdminContext,
  etcdKey: string,
  expectRevision: number | undefined,
): Promise<{ current: IKeyValue | undefined; seen: number }> {
  const current = await ctx.read(etcdKey, 'read');
  const seen = current ? Number(current.mod_revision) : 0;
  if (expectRevision !== undefined && expectRevision !== seen) {
    throw new ConfigConflictError(etcdKey, expectRevision, seen);
  }
  return { current, seen };
}

/**
 * A compare-and-swap write of one key on the revision `seen` (`text` undefined: a delete), then its
 * audit record (`record`: what is not the write's own: action, actor, force, restored revision).
 * @returns the revision written, the audit key, and why the record was not written, if it was not
 * @internal
 */
export async function auditedWrite(
  ctx: AdminContext,
  auditLog: AuditLog,
  service: string,
  etcdKey: string,
  seen: number,
  text: string | undefined,
  record: Pick<AuditRecord, 'actor' | 'action' | 'restoredRevision' | 'forced'>,
): Promise<{ revision: number; auditKey: string; auditError?: string }> {
  const revision = await ctx.compareAndWrite(etcdKey, seen, text);
  // The record's fields in the order every record has them (the stored JSON, `audit -o json`).
  const auditError = await auditLog.record(service, {
    actor: record.actor,
    time: ctx.isoNow(),
    etcdKey,
    action: record.action,
    oldRevision: seen,
    newRevision: revision,
    ...(record.restoredRevision !== undefined ? { restoredRevision: record.restoredRevision } : {}),
    ...(record.forced ? { forced: true } : {}),
  });
  return {
    revision,
    auditKey: auditLog.keyOf(service, revision),
    ...(auditError !== undefined ? { auditError } : {}),
  };
}

/**
 * `EtcdAdmin.put` (and the write of a rollback): the expected revision checked, the text validated
 * for every affected instance (refused unless `force`), a compare-and-swap write on the revision
 * read, and its audit record. @internal
 */
export async function writeKey(
  ctx: AdminContext,
  auditLog: AuditLog,
  validation: CandidateValidation,
  service: string,
  target: KeyTarget,
  text: string,
  options: PutOptions,
  action: 'put' | 'rollback' = 'put',
  restoredRevision?: number,
): Promise<PutResult> {
  const { seen } = await readExpected(ctx, target.etcdKey, options.expectRevision);
  const report = await validation.validate(target, text);
  const problems = problemsOf(report, options.force === true);
  if (problems.length > 0) {
    throw new ConfigValidationError(
      target.etcdKey,
      problems.map(p => p.problem),
    );
  }
  const { revision, auditKey, auditError } = await auditedWrite(
    ctx,
    auditLog,
    service,
    target.etcdKey,
    seen,
    text,
    {
      actor: options.actor ?? ctx.actor,
      action,
      ...(restoredRevision !== undefined ? { restoredRevision } : {}),
      ...(options.force && !report.ok ? { forced: true } : {}),
    },
  );
  const result: PutResult = {
    etcdKey: target.etcdKey,
    revision,
    previousRevision: seen,
    validation: report,
    auditKey,
  };
  if (auditError !== undefined) result.auditError = auditError;
  return result;
}

/**
 * `EtcdAdmin.rollback`: the value the key had at `revision`, written like a put (compare-and-swap
 * on the current revision), with the diff from the current text.
 * @throws ConfigValidationError when the key had no value at that revision
 * @internal
 */
export async function rollbackKey(
  ctx: AdminContext,
  auditLog: AuditLog,
  validation: CandidateValidation,
  service: string,
  target: KeyTarget,
  revision: number,
  options: RollbackOptions,
): Promise<RollbackResult> {
  const [old, current] = await Promise.all([
    ctx.read(target.etcdKey, 'read history of', revision),
    ctx.read(target.etcdKey, 'read'),
  ]);
  if (!old) {
    throw new ConfigValidationError(target.etcdKey, [
      {
        reason: `the key had no value at revision ${revision} (not created yet, or deleted): nothing to restore`,
      },
    ]);
  }
  const text = textOf(old);
  const currentText = current ? textOf(current) : undefined;
  const written = await writeKey(
    ctx,
    auditLog,
    validation,
    service,
    target,
    text,
    { ...options, expectRevision: current ? Number(current.mod_revision) : 0 },
    'rollback',
    Number(old.mod_revision),
  );
  return {
    ...written,
    restoredRevision: Number(old.mod_revision),
    diff: diffLines(currentText, text),
  };
}
