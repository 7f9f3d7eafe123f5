import type { AdminInstance, ServiceSummary } from '../../admin/admin.interfaces.js';
import { html, type SafeHtml } from '../html.js';
import { href, seconds, servicePath, type Page, type PageContext } from './layout.js';

/** The live table of the services page (id `services`). */
export function servicesTable(ctx: PageContext, services: readonly ServiceSummary[]): SafeHtml {
  if (services.length === 0) {
    return html`<p class="muted">No service is registered or reporting a config status.</p>`;
  }
  return html`<table>
    <thead>
      <tr>
        <th>Service</th>
        <th class="num">Instances</th>
        <th class="num">Reporting config</th>
        <th class="num">Rejecting</th>
        <th></th>
      </tr>
    </thead>
    <tbody>
      ${services.map(
        s =>
          html`<tr data-service="${s.name}">
            <td><a href="${href(ctx, servicePath(s.name))}">${s.name}</a></td>
            <td class="num">${s.instances}</td>
            <td class="num">${s.reporting}</td>
            <td class="num ${s.rejecting > 0 ? 'bad' : ''}">${s.rejecting}</td>
            <td>
              <a href="${href(ctx, servicePath(s.name, 'config'))}">config</a> ·
              <a href="${href(ctx, servicePath(s.name, 'audit'))}">audit</a>
            </td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

/** `GET <path>/`: every service. */
export function servicesPage(ctx: PageContext, services: readonly ServiceSummary[]): Page {
  return {
    title: 'Services',
    crumbs: [['Services', undefined]],
    live: href(ctx, 'events'),
    body: html`<h1>Services</h1>
      <div id="services">${servicesTable(ctx, services)}</div>`,
  };
}

/** Metadata names whose values are never shown (credentials someone put in metadata). */
const SECRET_NAME = /pass(word)?|secret|token|credential|private|api[-_]?key/i;

function metadataCell(metadata: Record<string, unknown>): SafeHtml {
  const entries = Object.entries(metadata).filter(([name]) => name !== 'zone');
  return html`${entries.map(
    ([name, value]) =>
      html`<span class="pill mono"
        >${name}=${
          SECRET_NAME.test(name)
            ? '(hidden)'
            : typeof value === 'string'
              ? value
              : JSON.stringify(value)
        }</span
      >`,
  )}`;
}

/** The live table of a service's page (id `instances`). */
export function instancesTable(ctx: PageContext, instances: readonly AdminInstance[]): SafeHtml {
  if (instances.length === 0) return html`<p class="muted">No live instance.</p>`;
  return html`<table>
    <thead>
      <tr>
        <th>Instance</th>
        <th>Address</th>
        <th>Zone</th>
        <th>Metadata</th>
        <th class="num">Weight</th>
        <th class="num">Lease TTL left</th>
        <th class="num">Config revision</th>
        <th class="num">Rejected keys</th>
      </tr>
    </thead>
    <tbody>
      ${instances.map(
        i =>
          html`<tr data-instance="${i.instanceId}">
            <td class="mono">${i.instanceId}</td>
            <td class="mono">${i.host}:${i.port}</td>
            <td>${typeof i.metadata.zone === 'string' ? i.metadata.zone : '—'}</td>
            <td>${metadataCell(i.metadata)}</td>
            <td class="num">${i.weight}</td>
            <td class="num">${seconds(i.leaseTtlLeft)}</td>
            <td class="num" data-config-revision="${i.configRevision ?? ''}">
              ${i.configRevision ?? html`<span class="muted">no status</span>`}
            </td>
            <td class="num ${i.rejectedKeys > 0 ? 'bad' : ''}">${i.rejectedKeys}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

/** `GET <path>/services/:service`: its instances. */
export function servicePage(
  ctx: PageContext,
  service: string,
  instances: readonly AdminInstance[],
): Page {
  return {
    title: service,
    crumbs: [
      ['Services', href(ctx, '')],
      [service, undefined],
    ],
    live: href(ctx, servicePath(service, 'events')),
    body: html`<h1>${service}</h1>
      <p>
        <a href="${href(ctx, servicePath(service, 'config'))}">Config</a> ·
        <a href="${href(ctx, servicePath(service, 'audit'))}">Audit trail</a>
      </p>
      <h2>Instances</h2>
      <div id="instances">${instancesTable(ctx, instances)}</div>`,
  };
}
