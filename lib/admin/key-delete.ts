import { ConfigValidationError } from '../errors/config-validation.error.js';
import type { DeleteOptions, DeleteResult } from './admin.interfaces.js';
import type { AdminContext } from './admin-context.js';
import type { AuditLog } from './audit-log.js';
import type { CandidateValidation } from './candidate-validation.js';
import type { KeyTarget } from './fleet-layers.js';
import { auditedWrite, readExpected } from './key-write.js';

/**
 * `EtcdAdmin.delete`: refuses a key an unshadowed instance serves, with a schema, from a layer
 * without a profile (unless `force`); then a compare-and-swap delete and its audit record. @internal
 */
export async function deleteKey(
  ctx: AdminContext,
  auditLog: AuditLog,
  validation: CandidateValidation,
  service: string,
  target: KeyTarget,
  options: DeleteOptions,
): Promise<DeleteResult> {
  const { current, seen } = await readExpected(ctx, target.etcdKey, options.expectRevision);
  if (!current) {
    throw new ConfigValidationError(target.etcdKey, [
      { reason: 'the key has no value: nothing to delete' },
    ]);
  }
  const affected = await validation.affected(target.etcdKey);
  const refusing = affected.filter(
    a => a.shadowedBy === undefined && a.profile === undefined && a.schema !== undefined,
  );
  if (refusing.length > 0 && options.force !== true) {
    throw new ConfigValidationError(
      target.etcdKey,
      refusing.map(a => ({
        instanceId: a.instanceId,
        reason: `it serves ${a.configKey} from this key with schema ${a.schema!.slice(0, 12)}: deleting it leaves no value (use force to delete anyway)`,
      })),
    );
  }
  const { revision, auditKey, auditError } = await auditedWrite(
    ctx,
    auditLog,
    service,
    target.etcdKey,
    seen,
    undefined,
    {
      actor: options.actor ?? ctx.actor,
      action: 'delete',
      ...(options.force && refusing.length > 0 ? { forced: true } : {}),
    },
  );
  const result: DeleteResult = {
    etcdKey: target.etcdKey,
    revision,
    previousRevision: seen,
    affected,
    auditKey,
  };
  if (auditError !== undefined) result.auditError = auditError;
  return result;
}
