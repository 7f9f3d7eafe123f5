import { ConfigConflictError } from '../errors/config-conflict.error.js';
import { ConfigValidationError } from '../errors/config-validation.error.js';
import type { PutOptions, PutResult, RollbackOptions, RollbackResult } from './admin.interfaces.js';
import { type AdminContext, textOf } from './admin-context.js';
import type { AuditLog } from './audit-log.js';
import type { CandidateValidation } from './candidate-validation.js';
import type { KeyTarget } from './fleet-layers.js';
import { problemsOf } from './folder-apply.js';
import { diffLines } from './text-diff.js';

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
  const current = await ctx.read(target.etcdKey, 'read');
  const seen = current ? Number(current.mod_revision) : 0;
  if (options.expectRevision !== undefined && options.expectRevision !== seen) {
    throw new ConfigConflictError(target.etcdKey, options.expectRevision, seen);
  }
  const report = await validation.validate(target, text);
  const problems = problemsOf(report, options.force === true);
  if (problems.length > 0) {
    throw new ConfigValidationError(
      target.etcdKey,
      problems.map(p => p.problem),
    );
  }
  const revision = await ctx.compareAndWrite(target.etcdKey, seen, text);
  const auditKey = auditLog.keyOf(service, revision);
  const auditError = await auditLog.record(service, {
    actor: options.actor ?? ctx.actor,
    time: ctx.isoNow(),
    etcdKey: target.etcdKey,
    action,
    oldRevision: seen,
    newRevision: revision,
    ...(restoredRevision !== undefined ? { restoredRevision } : {}),
    ...(options.force && !report.ok ? { forced: true } : {}),
  });
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
