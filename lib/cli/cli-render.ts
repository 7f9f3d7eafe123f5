import type {
  AdminHistoryEntry,
  AdminInstance,
  AuditRecord,
  InstanceStatus,
  KeyChange,
  RolloutEvent,
  ServiceSummary,
  ValidationReport,
} from '../admin/admin.interfaces.js';
import { renderDiff } from '../admin/text-diff.js';

/*
 * Human output of the `nest-etcd` command: plain-text tables, one function per command. `-o json`
 * prints the admin core's own objects instead (docs/cli.md).
 */

/** Columns padded to their widest cell, two spaces apart. @internal */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** `services`. @internal */
export function renderServices(services: ServiceSummary[]): string {
  if (services.length === 0) return 'no services';
  return table(
    ['SERVICE', 'INSTANCES', 'REPORTING', 'REJECTING'],
    services.map(s => [s.name, `${s.instances}`, `${s.reporting}`, `${s.rejecting}`]),
  );
}

/** `instances <svc>`. @internal */
export function renderInstances(instances: AdminInstance[]): string {
  if (instances.length === 0) return 'no registered instance';
  return table(
    ['INSTANCE', 'ADDRESS', 'ZONE', 'WEIGHT', 'LEASE TTL', 'CONFIG REV', 'REJECTED'],
    instances.map(i => [
      i.instanceId,
      `${i.host}:${i.port}`,
      typeof i.metadata.zone === 'string' ? i.metadata.zone : '-',
      `${i.weight}`,
      i.leaseTtlLeft !== undefined ? `${i.leaseTtlLeft}s` : '-',
      i.configRevision !== undefined ? `${i.configRevision}` : '-',
      `${i.rejectedKeys}`,
    ]),
  );
}

/** `status <svc>`: one row per instance and key. @internal */
export function renderStatus(statuses: InstanceStatus[]): string {
  if (statuses.length === 0) return 'no instance reports a config status';
  const rows: string[][] = [];
  for (const s of statuses) {
    const profiles = s.profiles.join(',') || '-';
    const keys = Object.entries(s.keys);
    if (keys.length === 0) rows.push([s.instanceId, `${s.revision}`, profiles, '-', '-', '-', '']);
    for (const [key, k] of keys) {
      const reason =
        k.state === 'rejected'
          ? `rejected revision ${k.rejectedRevision ?? '?'}: ${k.reason ?? ''}`
          : '';
      rows.push([
        s.instanceId,
        `${s.revision}`,
        profiles,
        key,
        k.state,
        `${k.revision}`,
        `${k.source}${reason ? `  ${reason}` : ''}`,
      ]);
    }
  }
  return table(['INSTANCE', 'REVISION', 'PROFILES', 'KEY', 'STATE', 'SERVED', 'SOURCE'], rows);
}

/** `validate`: one row per instance. @internal */
export function renderValidation(report: ValidationReport): string {
  const head = `${report.etcdKey} (${report.format}): ${report.ok ? 'valid' : 'INVALID'}`;
  if (report.formatError !== undefined) return `${head}\n${report.formatError}`;
  if (report.instances.length === 0) return `${head}\nno instance reads this key`;
  return `${head}\n${table(
    ['INSTANCE', 'LAYER', 'SCHEMA', 'VERDICT', 'REASON'],
    report.instances.map(v => [
      v.instanceId,
      v.layer,
      v.schema ? v.schema.slice(0, 12) : 'none',
      v.ok ? 'ok' : 'REJECTS',
      v.reason ??
        (v.shadowedBy ? `shadowed by ${v.shadowedBy}` : v.noSchema ? 'no schema published' : ''),
    ]),
  )}`;
}

/** One line per rollout event, as it arrives. @internal */
export function renderRolloutEvent(event: RolloutEvent, etcdKey?: string): string {
  const served =
    event.servedRevision !== undefined ? ` (serves revision ${event.servedRevision})` : '';
  const what = etcdKey ? ` ${etcdKey}` : '';
  const reason = event.reason ? `: ${event.reason}` : '';
  return `instance ${event.instanceId}${what}: ${event.state}${served}${reason}`;
}

/** `diff` / `apply`: each changed key with its lines. @internal */
export function renderChanges(changes: KeyChange[], verbose: boolean): string {
  const out: string[] = [];
  for (const change of changes) {
    if (change.action === 'unchanged') continue;
    out.push(
      `${change.action} ${change.etcdKey}${change.revision ? ` (revision ${change.revision})` : ''}`,
    );
    if (verbose) out.push(indent(renderDiff(change.diff)));
  }
  return out.length > 0 ? out.join('\n') : 'no differences';
}

/** `history`. @internal */
export function renderHistory(entries: AdminHistoryEntry[]): string {
  if (entries.length === 0) return 'no history';
  return table(
    ['REVISION', 'VERSION', 'ACTION', 'ACTOR', 'DECODES', 'VALUE'],
    entries.map(e => [
      `${e.revision}`,
      `${e.version}`,
      e.deleted ? 'delete' : (e.audit?.action ?? 'put'),
      e.audit?.actor ?? '-',
      e.deleted ? '-' : e.decodes ? 'yes' : 'NO',
      e.text === undefined ? '' : preview(e.text),
    ]),
  );
}

/** `audit`. @internal */
export function renderAudit(records: AuditRecord[]): string {
  if (records.length === 0) return 'no audit records';
  return table(
    ['REVISION', 'TIME', 'ACTOR', 'ACTION', 'KEY', 'FROM'],
    records.map(r => [
      `${r.newRevision}`,
      r.time,
      r.actor,
      `${r.action}${r.forced ? ' (forced)' : ''}`,
      r.keys && r.keys.length > 1 ? `${r.etcdKey} (+${r.keys.length - 1})` : r.etcdKey,
      `${r.oldRevision}`,
    ]),
  );
}

function indent(text: string): string {
  return text
    .split('\n')
    .map(line => `    ${line}`)
    .join('\n');
}

function preview(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}
