import { html, raw, type HtmlValue, type SafeHtml } from '../html.js';
import { CSRF_FIELD } from '../console-csrf.js';

/** What every page needs besides its data: where the console is, its mode, the form token. */
export interface PageContext {
  /** The console's root path as the browser sees it (global prefix included), no trailing `/`. */
  readonly base: string;
  readonly readOnly: boolean;
  readonly banner: string | undefined;
  /** The CSRF token forms carry. */
  readonly csrf: string;
  /** Who the console takes the viewer for (the audit's actor). */
  readonly actor: string;
}

/** A page: its title, its breadcrumbs, its body, and the URL of its live updates, if any. */
export interface Page {
  title: string;
  crumbs?: Array<[label: string, href: string | undefined]>;
  body: SafeHtml;
  /** Server-sent events URL: fragments `{ id, html }` replacing the element with that id. */
  live?: string;
}

/** A URL below the console's root, with a query (values encoded; `undefined` ones left out). */
export function href(
  ctx: PageContext,
  path: string,
  query: Record<string, string | number | undefined> = {},
): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(name, String(value));
  }
  const search = params.toString();
  const url = path === '' ? ctx.base || '/' : `${ctx.base}/${path}`;
  return `${url}${search ? `?${search}` : ''}`;
}

/** The path segment of a service (names are one segment: they cannot hold `/`). */
export function servicePath(service: string, rest = ''): string {
  return `services/${encodeURIComponent(service)}${rest ? `/${rest}` : ''}`;
}

/** A POST form with the CSRF token; `undefined` (nothing rendered) on a read-only console. */
export function postForm(
  ctx: PageContext,
  action: string,
  fields: Record<string, string | number | undefined>,
  inner: HtmlValue,
  className = 'inline',
): SafeHtml | undefined {
  if (ctx.readOnly) return undefined;
  return html`<form method="post" action="${action}" class="${className}">
    <input type="hidden" name="${CSRF_FIELD}" value="${ctx.csrf}" />${Object.entries(fields).map(
      ([name, value]) =>
        value === undefined
          ? ''
          : html`<input type="hidden" name="${name}" value="${String(value)}" />`,
    )}${inner}
  </form>`;
}

/** The whole document around a page's body. */
export function renderPage(ctx: PageContext, page: Page): string {
  const crumbs = page.crumbs ?? [];
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<meta name="referrer" content="same-origin" />
<title>${page.title} · etcd console</title>
<link rel="stylesheet" href="${ctx.base}/assets/console.css" />
<script src="${ctx.base}/assets/console.js" defer></script>
</head>
<body>
<header>
  <a href="${href(ctx, '')}">etcd console</a>
  <nav><a href="${href(ctx, '')}">Services</a></nav>
  <span class="mode ${ctx.readOnly ? '' : 'rw'}" title="${`acting as ${ctx.actor}`}">${
    ctx.readOnly ? 'read-only' : 'read-write'
  } · ${ctx.actor}</span>
</header>
${ctx.banner ? html`<div class="banner">${ctx.banner}</div>` : ''}
<main${page.live ? html` data-live="${page.live}"` : ''}>
  ${
    crumbs.length > 0
      ? html`<div class="crumbs">
          ${crumbs.map(([label, url], i) => [
            i > 0 ? raw(' / ') : '',
            url ? html`<a href="${url}">${label}</a>` : label,
          ])}${page.live ? raw('<span id="live-dot" class="live-dot" title="live"></span>') : ''}
        </div>`
      : ''
  }
  ${page.body}
</main>
</body>
</html>
`.text;
}

/** A message box (`ok` or `bad`), for the outcome of a write. */
export function message(kind: 'ok' | 'bad', text: HtmlValue): SafeHtml {
  return html`<div class="msg ${kind}" role="${kind === 'bad' ? 'alert' : 'status'}">${text}</div>`;
}

/** A count of seconds as a person reads it (`42 s`, `3 min`). */
export function seconds(value: number | undefined): string {
  if (value === undefined || value < 0) return '—';
  return value < 120 ? `${value} s` : `${Math.round(value / 60)} min`;
}
