/**
 * HTML made by the console: every interpolated value is escaped unless it is already `SafeHtml`
 * (made by `html` itself, or by `raw()` for the console's own constant markup). Nothing the console
 * renders from etcd (keys, values, metadata, reasons) can become markup.
 */

/** A piece of markup the console made itself; the only thing `html` interpolates unescaped. */
export class SafeHtml {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

/** What `html` accepts between `${}`: arrays are joined, `undefined`/`null`/`false` render nothing. */
export type HtmlValue =
  SafeHtml | string | number | bigint | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Escapes a text for an HTML text node or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, c => ESCAPES[c]!);
}

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.text;
  if (value === undefined || value === null || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/**
 * Tagged template for markup: `html\`<td>${key}</td>\`` escapes `key`.
 *
 * @example
 * ```ts
 * const row = html`<tr><td>${'<script>'}</td></tr>`; // <tr><td>&lt;script&gt;</td></tr>
 * ```
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** Marks constant markup as safe. Never pass it anything read from etcd or from a request. */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
