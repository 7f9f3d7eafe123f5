import { html, raw, escapeHtml } from '../../lib/console/html.js';
import { ConsoleCsrf, CSRF_COOKIE } from '../../lib/console/console-csrf.js';
import { baseOf, formOf, defaultActor } from '../../lib/console/console-http.js';
import { resolveConsoleOptions } from '../../lib/console/console-options.resolver.js';
import { InvalidOptionsError } from '../../lib/index.js';
import type { ConsoleRequest } from '../../lib/console/index.js';

describe('console html', () => {
  it('escapes every interpolated value, arrays included; raw() and nested html are kept', () => {
    const key = '<script>alert("x")</script>';
    const out = html`<td title="${key}">${key}</td>
      ${[key, html`<b>${"'"}</b>`]}${raw('<br>')}`;
    expect(out.text.replace(/>\s+/g, '>')).toBe(
      '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</td>' +
        '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;<b>&#39;</b><br>',
    );
  });

  it('renders nothing for undefined, null and false; numbers as text', () => {
    expect(html`${undefined}${null}${false}${0}${12n}`.text).toBe('012');
    expect(escapeHtml('a&b`c')).toBe('a&amp;b&#96;c');
  });
});

function request(headers: Record<string, string>): ConsoleRequest {
  return { headers };
}

describe('console CSRF', () => {
  const csrf = new ConsoleCsrf();
  const { nonce, setCookie } = csrf.newNonce('/etcd');
  const cookie = `other=1; ${CSRF_COOKIE}=${nonce}`;
  const token = csrf.tokenFor(nonce);

  it('gives an HttpOnly, SameSite=Strict cookie scoped to the console', () => {
    expect(setCookie).toBe(`${CSRF_COOKIE}=${nonce}; Path=/etcd; HttpOnly; SameSite=Strict`);
  });

  it('accepts a same-origin POST carrying the token of its cookie', () => {
    const req = request({
      cookie,
      host: 'localhost:3000',
      origin: 'http://localhost:3000',
      'sec-fetch-site': 'same-origin',
    });
    expect(csrf.refusal(req, token)).toBeUndefined();
  });

  it('refuses a cross-site, cross-origin or opaque-origin POST even with a valid token', () => {
    expect(
      csrf.refusal(request({ cookie, host: 'a:1', 'sec-fetch-site': 'cross-site' }), token),
    ).toMatch(/cross-site/);
    expect(csrf.refusal(request({ cookie, host: 'a:1', origin: 'http://evil:1' }), token)).toMatch(
      /cross-origin/,
    );
    expect(csrf.refusal(request({ cookie, host: 'a:1', origin: 'null' }), token)).toMatch(/opaque/);
  });

  it('refuses a missing, forged or other-app token, and a missing cookie', () => {
    const req = request({ cookie, host: 'a:1' });
    expect(csrf.refusal(req, undefined)).toMatch(/missing CSRF token/);
    expect(
      csrf.refusal(
        req,
        token.replace(/.$/, c => (c === 'A' ? 'B' : 'A')),
      ),
    ).toMatch(/invalid CSRF token/);
    expect(csrf.refusal(req, new ConsoleCsrf().tokenFor(nonce))).toMatch(/invalid CSRF token/);
    expect(csrf.refusal(request({ host: 'a:1' }), token)).toMatch(/no console cookie/);
  });
});

describe('console http edges', () => {
  it('finds the console root from the URL the browser used', () => {
    expect(baseOf({ headers: {}, url: '/api/etcd/services/orders/key?key=a/b' }, 3)).toBe(
      '/api/etcd',
    );
    expect(baseOf({ headers: {}, url: '/etcd/' }, 0)).toBe('/etcd');
    expect(baseOf({ headers: {}, url: '/' }, 0)).toBe('');
  });

  it('reads a form parsed as an object, as a string, or not at all', () => {
    expect(formOf({ key: 'a', text: 'x', n: 1 })).toEqual({ key: 'a', text: 'x' });
    expect(formOf('key=a%2Fb&text=1%0A2')).toEqual({ key: 'a/b', text: '1\n2' });
    expect(formOf(undefined)).toEqual({});
  });

  it('takes the actor from req.user (id, then name), else anonymous', () => {
    expect(defaultActor({ headers: {}, user: { id: 7, name: 'ann' } })).toBe('7');
    expect(defaultActor({ headers: {}, user: { name: 'ann' } })).toBe('ann');
    expect(defaultActor({ headers: {} })).toBe('anonymous');
  });

  it('resolves options: read-only by default, path trimmed, bad values named', () => {
    expect(resolveConsoleOptions({})).toMatchObject({
      path: 'etcd',
      readOnly: true,
      refreshInterval: 2000,
    });
    expect(resolveConsoleOptions({ path: '/ops/etcd/' }).path).toBe('ops/etcd');
    expect(() => resolveConsoleOptions({ path: 'a b' })).toThrow(InvalidOptionsError);
    expect(() => resolveConsoleOptions({ readOnly: 'no' as unknown as boolean })).toThrow(
      /console.readOnly/,
    );
    expect(() => resolveConsoleOptions({ pth: 'x' } as never)).toThrow(/console.pth/);
  });
});
