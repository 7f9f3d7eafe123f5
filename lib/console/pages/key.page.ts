import type {
  AdminHistoryEntry,
  AdminValue,
  AffectedInstance,
  DiffLine,
  KeyStatus,
  ValidationReport,
} from '../../admin/admin.interfaces.js';
import { html, type SafeHtml } from '../html.js';
import { keyStatusPill } from './config.page.js';
import { href, message, postForm, servicePath, type Page, type PageContext } from './layout.js';

/** Where a key page is: the service, the key, and the profile overlay (gray release) if any. */
export interface KeyRef {
  service: string;
  key: string;
  profile?: string;
}

/** An instance a write of the key reaches, with what it serves now. */
export interface KeyInstanceView {
  affected: AffectedInstance;
  status: KeyStatus | undefined;
}

/** Everything the key page shows. */
export interface KeyPageData {
  value: AdminValue;
  instances: readonly KeyInstanceView[];
  history: readonly AdminHistoryEntry[];
  /** Profiles with an overlay of this key (on the base key's page). */
  overlays: readonly string[];
  /** The outcome of the last write, shown on top. */
  flash?: { kind: 'ok' | 'bad'; text: string };
}

function keyQuery(ref: KeyRef, extra: Record<string, string | number | undefined> = {}) {
  return { key: ref.key, profile: ref.profile, ...extra };
}

function layerName(ref: KeyRef): string {
  return ref.profile ? `@${ref.profile}` : 'base';
}

/** The live table of who a write of the key reaches (id `key-instances`). */
export function keyInstancesTable(instances: readonly KeyInstanceView[]): SafeHtml {
  if (instances.length === 0) {
    return html`<p class="muted">
      No live instance reads this key (no instance of the service reports it, or the profile is not
      active anywhere).
    </p>`;
  }
  return html`<table>
    <thead>
      <tr>
        <th>Instance</th>
        <th>Layer</th>
        <th>Serves</th>
        <th>Source</th>
        <th>Schema</th>
      </tr>
    </thead>
    <tbody>
      ${instances.map(
        ({ affected: a, status }) =>
          html`<tr data-instance="${a.instanceId}">
            <td class="mono">${a.instanceId}</td>
            <td>
              ${a.layer}${a.profile ? ` @${a.profile}` : ''}${
                a.shadowedBy
                  ? html` <span class="warn">shadowed by <code>${a.shadowedBy}</code></span>`
                  : ''
              }
            </td>
            <td>
              ${status ? keyStatusPill(a.instanceId, status) : html`<span class="muted">not reported</span>`}
            </td>
            <td class="mono">${status?.source ?? ''}</td>
            <td class="mono">
              ${a.schema ? a.schema.slice(0, 12) : html`<span class="muted">none</span>`}
            </td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

/** A line diff as rows (`-` red, `+` green), unchanged runs longer than 7 lines folded. */
export function diffView(lines: readonly DiffLine[]): SafeHtml {
  if (!lines.some(l => l.op !== ' ')) return html`<p class="muted">No difference.</p>`;
  const out: SafeHtml[] = [];
  const keep = lines.map((line, i) =>
    lines.slice(Math.max(0, i - 3), i + 4).some(near => near.op !== ' '),
  );
  let folded = false;
  lines.forEach((line, i) => {
    if (!keep[i]) {
      if (!folded) out.push(html`<div class="gap">…</div>`);
      folded = true;
      return;
    }
    folded = false;
    const cls = line.op === '+' ? 'add' : line.op === '-' ? 'del' : '';
    out.push(html`<div class="${cls}">${line.op} ${line.text}</div>`);
  });
  return html`<div class="diff mono">${out}</div>`;
}

function historyTable(ctx: PageContext, ref: KeyRef, data: KeyPageData): SafeHtml {
  if (data.history.length === 0)
    return html`<p class="muted">No history (the key was never written, or etcd compacted it).</p>`;
  const current = data.value.revision;
  // The radios belong to the diff form below through their form attribute: the rollback forms in
  // the rows cannot sit inside another form.
  return html`<table>
      <thead>
        <tr>
          <th>A</th>
          <th>B</th>
          <th class="num">Revision</th>
          <th>Value</th>
          <th>Who · when</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${data.history.map(
          (entry, i) =>
            html`<tr data-revision="${entry.revision}">
              <td>${radio('a', entry.revision, i === 1)}</td>
              <td>${radio('b', entry.revision, i === 0)}</td>
              <td class="num">
                ${entry.revision}${entry.revision === current ? html` <span class="pill ok">current</span>` : ''}
              </td>
              <td>
                ${
                  entry.deleted
                    ? html`<span class="muted">(deleted)</span>`
                    : html`<pre class="value">${entry.text ?? ''}</pre>
                        ${entry.decodes ? '' : html`<span class="bad">does not decode</span>`}`
                }
              </td>
              <td>
                ${entry.audit ? `${entry.audit.actor} · ${entry.audit.time} · ${entry.audit.action}` : html`<span class="muted">outside the admin core</span>`}
              </td>
              <td>
                ${
                  entry.revision !== current && !entry.deleted
                    ? postForm(
                        ctx,
                        href(ctx, servicePath(ref.service, 'rollback')),
                        keyQuery(ref, { revision: entry.revision }),
                        html`<button type="submit" class="danger" data-rollback="${entry.revision}">
                          Roll back to r${entry.revision}
                        </button>`,
                      )
                    : ''
                }
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    <form id="history-diff" method="get" action="${href(ctx, servicePath(ref.service, 'diff'))}">
      <input type="hidden" name="key" value="${ref.key}" />${
        ref.profile ? html`<input type="hidden" name="profile" value="${ref.profile}" />` : ''
      }
      ${data.history.length > 1 ? html`<p><button type="submit">Diff A → B</button></p>` : ''}
    </form>`;
}

/** A radio of the history's diff form (A or B). */
function radio(name: 'a' | 'b', revision: number, checked: boolean): SafeHtml {
  return checked
    ? html`<input type="radio" form="history-diff" name="${name}" value="${revision}" checked />`
    : html`<input type="radio" form="history-diff" name="${name}" value="${revision}" />`;
}

/** The edit form: the text, the revision it was read at (compare-and-swap), the profile. */
function editForm(
  ctx: PageContext,
  ref: KeyRef,
  value: AdminValue,
  text?: string,
): SafeHtml | undefined {
  return postForm(
    ctx,
    href(ctx, servicePath(ref.service, 'preview')),
    keyQuery(ref, { expectRevision: value.revision }),
    html`<textarea name="text" spellcheck="false" aria-label="value">
${text ?? value.text ?? ''}</textarea>
      <p>
        <button type="submit" class="primary">Validate and preview</button>
        <span class="muted"
          >Checked against the schema of every live instance it would reach; nothing is written
          before you publish.</span
        >
      </p>`,
    'edit',
  );
}

function grayRelease(ctx: PageContext, ref: KeyRef, data: KeyPageData): SafeHtml {
  if (ref.profile) {
    const forms = [
      postForm(
        ctx,
        href(ctx, servicePath(ref.service, 'promote')),
        keyQuery(ref),
        html`<button type="submit" class="primary">Promote to base</button>`,
      ),
      postForm(
        ctx,
        href(ctx, servicePath(ref.service, 'drop')),
        keyQuery(ref),
        html`<button type="submit">Drop</button>`,
      ),
    ];
    return html`<h2>Gray release</h2>
      <p>
        This is the <b>@${ref.profile}</b> overlay of
        <a href="${href(ctx, servicePath(ref.service, 'key'), { key: ref.key })}">${ref.key}</a>:
        instances started with the profile ${ref.profile} serve it instead of the base value.
        ${data.value.text === undefined ? 'It does not exist yet: publish a value to start a gray release.' : ''}
      </p>
      ${data.value.text !== undefined ? html`<p>${forms}</p>` : ''}`;
  }
  return html`<h2>Gray release</h2>
    <p>
      ${
        data.overlays.length > 0
          ? html`Overlays:
            ${data.overlays.map(
              p =>
                html`<a
                  class="pill warn"
                  href="${href(ctx, servicePath(ref.service, 'key'), { key: ref.key, profile: p })}"
                  >@${p}</a
                >`,
            )}`
          : 'No overlay.'
      }
    </p>
    <form method="get" action="${href(ctx, servicePath(ref.service, 'key'))}" class="inline">
      <input type="hidden" name="key" value="${ref.key}" />
      <input type="text" name="profile" placeholder="profile, e.g. canary" required />
      <button type="submit">Open a profile overlay</button>
    </form>`;
}

function keyCrumbs(ctx: PageContext, ref: KeyRef, last?: string): Page['crumbs'] {
  const crumbs: NonNullable<Page['crumbs']> = [
    ['Services', href(ctx, '')],
    [ref.service, href(ctx, servicePath(ref.service))],
    ['config', href(ctx, servicePath(ref.service, 'config'))],
    [
      `${ref.key} (${layerName(ref)})`,
      last ? href(ctx, servicePath(ref.service, 'key'), keyQuery(ref)) : undefined,
    ],
  ];
  if (last) crumbs.push([last, undefined]);
  return crumbs;
}

/** `GET <path>/services/:service/key?key=&profile=`: value, who reads it, history, edit, gray release. */
export function keyPage(ctx: PageContext, ref: KeyRef, data: KeyPageData): Page {
  const v = data.value;
  return {
    title: `${ref.key} · ${ref.service}`,
    crumbs: keyCrumbs(ctx, ref),
    live: href(ctx, servicePath(ref.service, 'key/events'), keyQuery(ref)),
    body: html`<h1 class="mono">${ref.key} <span class="pill">${layerName(ref)}</span></h1>
      ${data.flash ? message(data.flash.kind, data.flash.text) : ''}
      <p class="muted">
        etcd key <code>${v.etcdKey}</code> · format ${v.format} ·
        ${v.text === undefined ? 'absent' : `revision ${v.revision}, version ${v.version}`}
      </p>
      <div class="row">
        <div>
          <h2>Value</h2>
          ${ctx.readOnly ? html`<pre class="diff">${v.text ?? '(absent)'}</pre>` : editForm(ctx, ref, v)}
        </div>
        <div>
          <h2>Instances it reaches</h2>
          <div id="key-instances">${keyInstancesTable(data.instances)}</div>
          ${grayRelease(ctx, ref, data)}
        </div>
      </div>
      <h2>History</h2>
      ${historyTable(ctx, ref, data)}`,
  };
}

/** `POST preview`, refused: the value goes back into the form with each instance's complaint. */
export function invalidPage(
  ctx: PageContext,
  ref: KeyRef,
  value: AdminValue,
  text: string,
  report: ValidationReport,
): Page {
  const problems = report.formatError
    ? [html`<li>not a valid ${report.format} document: ${report.formatError}</li>`]
    : report.instances
        .filter(i => !i.ok)
        .map(
          i =>
            html`<li>
              <b class="mono">${i.instanceId}</b> rejects it: ${i.reason ?? 'rejected'}
            </li>`,
        );
  return {
    title: `${ref.key} · refused`,
    crumbs: keyCrumbs(ctx, ref, 'refused'),
    body: html`<h1 class="mono">${ref.key} <span class="pill">${layerName(ref)}</span></h1>
      ${message(
        'bad',
        html`<b>Refused, nothing was written.</b>
          <ul class="problems">
            ${problems}
          </ul>`,
      )}
      ${editForm(ctx, ref, value, text)}`,
  };
}

/** `POST preview`, valid: the diff against the stored value and the publish button. */
export function previewPage(
  ctx: PageContext,
  ref: KeyRef,
  value: AdminValue,
  text: string,
  report: ValidationReport,
  diff: readonly DiffLine[],
): Page {
  const checked = report.instances.map(i =>
    i.noSchema
      ? html`<span class="pill warn" title="no schema published: only the format was checked"
          >${i.instanceId} format ok</span
        >`
      : html`<span class="pill ok">${i.instanceId} ok</span>`,
  );
  return {
    title: `${ref.key} · preview`,
    crumbs: keyCrumbs(ctx, ref, 'preview'),
    body: html`<h1 class="mono">${ref.key} <span class="pill">${layerName(ref)}</span></h1>
      ${message('ok', html`Valid ${report.format} · ${report.instances.length === 0 ? 'no live instance reads it' : checked}`)}
      <h2>Diff: stored r${value.revision} → new</h2>
      <div id="preview-diff">${diffView(diff)}</div>
      ${postForm(
        ctx,
        href(ctx, servicePath(ref.service, 'publish')),
        keyQuery(ref, { expectRevision: value.revision }),
        html`<input type="hidden" name="text" value="${text}" />
          <p>
            <button type="submit" class="primary">Publish</button>
            <a href="${href(ctx, servicePath(ref.service, 'key'), keyQuery(ref))}">Cancel</a>
          </p>`,
        'publish',
      )}`,
  };
}

/** `GET <path>/services/:service/diff?key=&a=&b=`: two revisions of a key, A → B. */
export function diffPage(
  ctx: PageContext,
  ref: KeyRef,
  a: AdminHistoryEntry,
  b: AdminHistoryEntry,
  diff: readonly DiffLine[],
  currentRevision: number,
): Page {
  return {
    title: `${ref.key} · r${a.revision} → r${b.revision}`,
    crumbs: keyCrumbs(ctx, ref, `r${a.revision} → r${b.revision}`),
    body: html`<h1 class="mono">${ref.key} <span class="pill">${layerName(ref)}</span></h1>
      <h2>r${a.revision} → r${b.revision}</h2>
      ${diffView(diff)}
      <p>
        ${[a, b]
          .filter(e => e.revision !== currentRevision && !e.deleted)
          .map(e =>
            postForm(
              ctx,
              href(ctx, servicePath(ref.service, 'rollback')),
              keyQuery(ref, { revision: e.revision }),
              html`<button type="submit" class="danger" data-rollback="${e.revision}">
                Roll back to r${e.revision}
              </button> `,
            ),
          )}
      </p>`,
  };
}
