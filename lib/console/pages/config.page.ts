import type { AdminValue, InstanceStatus, KeyStatus } from '../../admin/admin.interfaces.js';
import { html, type SafeHtml } from '../html.js';
import { href, servicePath, type Page, type PageContext } from './layout.js';

/** One config key of a service as the config page shows it. */
export interface ConfigKeyView {
  key: string;
  /** The base layer's value (`text` undefined: only overlays or shared layers supply it). */
  base: AdminValue;
  /** Overlays that exist, per profile (gray release). */
  overlays: Array<{ profile: string; value: AdminValue }>;
  /** What each reporting instance serves for this key. */
  instances: Array<{ instanceId: string; profiles: string[]; status: KeyStatus }>;
}

/** The longest value shown in a table cell; the key page shows it whole. */
const CELL_CHARS = 400;

function clip(text: string | undefined): SafeHtml {
  if (text === undefined) return html`<span class="muted">(absent)</span>`;
  return html`<pre class="value">
${text.length > CELL_CHARS ? `${text.slice(0, CELL_CHARS)}…` : text}</pre>`;
}

/** A pill per instance: the revision it serves, and what it rejected. */
export function keyStatusPill(instanceId: string, status: KeyStatus): SafeHtml {
  if (status.state === 'rejected') {
    return html`<span
      class="pill bad"
      title="${status.reason ?? ''}"
      data-instance="${instanceId}"
      data-state="rejected"
      >${instanceId} r${status.revision} rejected r${status.rejectedRevision ?? '?'}:
      ${status.reason ?? ''}</span
    >`;
  }
  return html`<span
    class="pill ok"
    title="${`from ${status.source}`}"
    data-instance="${instanceId}"
    data-state="applied"
    data-revision="${status.revision}"
    >${instanceId} r${status.revision}</span
  >`;
}

/** Up to this many instances a key's row shows one pill each; beyond, one per served revision. */
const PILLS_PER_INSTANCE = 12;

/**
 * What the instances serve for a key: a pill per instance in a small fleet; in a large one a pill
 * per applied revision (`r42 × 197`, the ids in its title) and one per rejecting instance (a
 * rejection is what an operator acts on, so it is always named).
 */
function servedBy(view: ConfigKeyView): SafeHtml {
  if (view.instances.length <= PILLS_PER_INSTANCE) {
    return html`${view.instances.map(i => keyStatusPill(i.instanceId, i.status))}`;
  }
  const applied = new Map<number, string[]>();
  const rejected: ConfigKeyView['instances'] = [];
  for (const i of view.instances) {
    if (i.status.state === 'rejected') rejected.push(i);
    else {
      const ids = applied.get(i.status.revision);
      if (ids) ids.push(i.instanceId);
      else applied.set(i.status.revision, [i.instanceId]);
    }
  }
  return html`${[...applied].map(
    ([revision, ids]) =>
      html`<span
        class="pill ok"
        title="${ids.slice(0, 50).join(', ')}${ids.length > 50 ? ', …' : ''}"
        >r${revision} × ${ids.length}</span
      >`,
  )}${rejected.map(i => keyStatusPill(i.instanceId, i.status))}`;
}

/** Distinct schema hashes the instances validate a key with (two during a rolling deploy). */
function schemas(view: ConfigKeyView): SafeHtml {
  const hashes = [
    ...new Set(view.instances.map(i => i.status.schema).filter(h => h !== undefined)),
  ];
  if (hashes.length === 0) return html`<span class="muted">none</span>`;
  return html`${hashes.map(h => html`<span class="pill mono" title="${h}">${h.slice(0, 12)}</span>`)}`;
}

/** The live table of a service's config page (id `config`). */
export function configTable(
  ctx: PageContext,
  service: string,
  statuses: readonly InstanceStatus[],
  keys: readonly ConfigKeyView[],
): SafeHtml {
  const profiles = [...new Set(statuses.flatMap(s => s.profiles))].sort();
  const prefixes = [...new Set(statuses.map(s => s.prefix))];
  const summary = html`<p class="muted">
    ${statuses.length} instance(s)
    reporting${prefixes.length > 0 ? ` · prefix ${prefixes.join(', ')}` : ''}${
      profiles.length > 0 ? ` · active profiles: ${profiles.join(', ')}` : ''
    }
  </p>`;
  if (keys.length === 0) {
    return html`${summary}
      <p class="muted">No instance of ${service} reports a config key yet.</p>`;
  }
  return html`${summary}
    <table>
      <thead>
        <tr>
          <th>Key</th>
          <th>Format</th>
          <th>Value (base)</th>
          <th>Gray release (profiles)</th>
          <th>Schema</th>
          <th>Instances</th>
        </tr>
      </thead>
      <tbody>
        ${keys.map(
          view =>
            html`<tr data-key="${view.key}">
              <td class="mono">
                <a href="${href(ctx, servicePath(service, 'key'), { key: view.key })}"
                  >${view.key}</a
                >
                ${view.base.text !== undefined ? html`<div class="muted">r${view.base.revision}</div>` : ''}
              </td>
              <td>${view.base.format}</td>
              <td>${clip(view.base.text)}</td>
              <td>
                ${view.overlays.map(
                  o =>
                    html`<div>
                      <a
                        class="pill warn"
                        href="${href(ctx, servicePath(service, 'key'), { key: view.key, profile: o.profile })}"
                        >@${o.profile} r${o.value.revision}</a
                      >${clip(o.value.text)}
                    </div>`,
                )}
              </td>
              <td>${schemas(view)}</td>
              <td>${servedBy(view)}</td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}

/** `GET <path>/services/:service/config`: every key the fleet reads, live. */
export function configPage(
  ctx: PageContext,
  service: string,
  statuses: readonly InstanceStatus[],
  keys: readonly ConfigKeyView[],
): Page {
  return {
    title: `${service} config`,
    crumbs: [
      ['Services', href(ctx, '')],
      [service, href(ctx, servicePath(service))],
      ['config', undefined],
    ],
    live: href(ctx, servicePath(service, 'config/events')),
    body: html`<h1>${service} · config</h1>
      <form method="get" action="${href(ctx, servicePath(service, 'key'))}" class="inline">
        <input type="text" name="key" placeholder="key, e.g. limits.yaml" required />
        <input type="text" name="profile" placeholder="profile (optional)" />
        <button type="submit">Open key</button>
      </form>
      <h2>Keys</h2>
      <div id="config">${configTable(ctx, service, statuses, keys)}</div>`,
  };
}
