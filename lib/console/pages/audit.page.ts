import type { AuditRecord } from '../../admin/admin.interfaces.js';
import { html } from '../html.js';
import { href, servicePath, type Page, type PageContext } from './layout.js';

/** `GET <path>/services/:service/audit`: every write through the admin core, newest first. */
export function auditPage(
  ctx: PageContext,
  service: string,
  records: readonly AuditRecord[],
): Page {
  return {
    title: `${service} audit`,
    crumbs: [
      ['Services', href(ctx, '')],
      [service, href(ctx, servicePath(service))],
      ['audit', undefined],
    ],
    body: html`<h1>${service} · audit trail</h1>
      ${
        records.length === 0
          ? html`<p class="muted">No write through the admin core (console or CLI) yet.</p>`
          : html`<table>
              <thead>
                <tr>
                  <th>When</th>
                  <th>Who</th>
                  <th>Action</th>
                  <th>Key</th>
                  <th class="num">Revision</th>
                  <th></th>
                </tr>
              </thead>
              <tbody>
                ${records.map(
                  r =>
                    html`<tr data-revision="${r.newRevision}">
                      <td class="mono">${r.time}</td>
                      <td>${r.actor}</td>
                      <td>
                        ${r.action}${r.forced ? html` <span class="pill bad">forced</span>` : ''}
                      </td>
                      <td class="mono">
                        ${r.etcdKey}${r.keys && r.keys.length > 1 ? html` <span class="muted">(+${r.keys.length - 1} more)</span>` : ''}
                      </td>
                      <td class="num">
                        ${r.oldRevision > 0 ? `r${r.oldRevision} → ` : ''}r${r.newRevision}${
                          r.restoredRevision !== undefined
                            ? html` <span class="muted">(restored r${r.restoredRevision})</span>`
                            : ''
                        }
                      </td>
                      <td></td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }`,
  };
}
