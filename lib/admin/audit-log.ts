import type { AuditRecord } from './admin.interfaces.js';
import { type AdminContext, keyOf, textOf } from './admin-context.js';

/**
 * The audit trail: one record per write through the admin core at
 * `<audit prefix><service>/<revision>` (docs/cli.md). @internal
 */
export class AuditLog {
  constructor(private readonly ctx: AdminContext) {}

  /** The key of the record of a write at `revision`. */
  keyOf(service: string, revision: number): string {
    return `${this.ctx.prefixes.audit}${service}/${revision}`;
  }

  /**
   * Records a write; never throws (the write itself is done): the reason it could not be
   * recorded, if any.
   */
  async record(service: string, record: AuditRecord): Promise<string | undefined> {
    const key = this.keyOf(service, record.newRevision);
    try {
      await this.ctx.call('write audit record', key, () =>
        this.ctx.kv.put(key).value(JSON.stringify(record)).exec(),
      );
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  /** A service's records, newest first. */
  async list(service: string, limit: number): Promise<AuditRecord[]> {
    const prefix = `${this.ctx.prefixes.audit}${service}/`;
    const records: Array<AuditRecord & { at: number }> = [];
    for (const kv of await this.ctx.list(prefix, 'read the audit of')) {
      const at = Number(keyOf(kv).slice(prefix.length));
      const record = parseRecord(textOf(kv));
      if (record && Number.isInteger(at)) records.push({ ...record, at });
    }
    return records
      .sort((a, b) => b.at - a.at)
      .slice(0, limit)
      .map(({ at: _at, ...record }) => record);
  }

  /** Records by the revision they describe, for history. */
  async byRevision(service: string): Promise<Map<number, AuditRecord>> {
    const out = new Map<number, AuditRecord>();
    for (const record of await this.list(service, Number.MAX_SAFE_INTEGER)) {
      out.set(record.newRevision, record);
    }
    return out;
  }
}

function parseRecord(text: string): AuditRecord | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object') return undefined;
    const record = value as Partial<AuditRecord>;
    if (typeof record.actor !== 'string' || typeof record.newRevision !== 'number') {
      return undefined;
    }
    return record as AuditRecord;
  } catch {
    return undefined;
  }
}
