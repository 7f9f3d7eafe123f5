import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ConsoleRequest } from './console.interfaces.js';

/** Name of the cookie that holds the browser's CSRF nonce (HttpOnly, SameSite=Strict). */
export const CSRF_COOKIE = 'nest_etcd_console';
/** Name of the form field that carries the token. */
export const CSRF_FIELD = '_csrf';

const NONCE = /^[A-Za-z0-9_-]{22}$/;

/**
 * CSRF protection of the console's POSTs: a signed double-submit token. The browser holds a random
 * nonce in an HttpOnly, SameSite=Strict cookie; every form carries HMAC(secret, nonce), where the
 * secret is made per application (per `EtcdConsoleModule.forRoot()`), never shared or persisted. A
 * POST is accepted only when the token matches the cookie's nonce under this app's secret, and the
 * browser does not say it comes from another site (`Sec-Fetch-Site`, `Origin`).
 */
export class ConsoleCsrf {
  private readonly secret = randomBytes(32);

  /** The nonce of the request's cookie, or undefined when it has none (or a malformed one). */
  nonceOf(req: ConsoleRequest): string | undefined {
    const nonce = readCookie(req, CSRF_COOKIE);
    return nonce !== undefined && NONCE.test(nonce) ? nonce : undefined;
  }

  /** A new nonce and the `Set-Cookie` value that gives it to the browser under `path`. */
  newNonce(path: string): { nonce: string; setCookie: string } {
    const nonce = randomBytes(16).toString('base64url');
    const cookiePath = path.replace(/[^A-Za-z0-9/_.~%-]/g, '') || '/';
    return {
      nonce,
      setCookie: `${CSRF_COOKIE}=${nonce}; Path=${cookiePath}; HttpOnly; SameSite=Strict`,
    };
  }

  /** The token a form posted by the holder of `nonce` must carry. */
  tokenFor(nonce: string): string {
    return createHmac('sha256', this.secret).update(nonce).digest('base64url');
  }

  /**
   * Why a POST is refused, or undefined when it is a same-origin request carrying a valid token.
   * `token` is the form field's value.
   */
  refusal(req: ConsoleRequest, token: unknown): string | undefined {
    const site = header(req, 'sec-fetch-site');
    if (site !== undefined && site !== 'same-origin') {
      return `cross-site request refused (Sec-Fetch-Site: ${site})`;
    }
    const origin = header(req, 'origin');
    if (origin !== undefined && origin !== 'null') {
      let originHost: string;
      try {
        originHost = new URL(origin).host;
      } catch {
        return 'request with a malformed Origin refused';
      }
      const hosts = [header(req, 'host'), header(req, 'x-forwarded-host')];
      if (!hosts.includes(originHost)) return `cross-origin request refused (Origin: ${origin})`;
    } else if (origin === 'null') {
      return 'request from an opaque origin refused';
    }
    const nonce = this.nonceOf(req);
    if (nonce === undefined) return 'no console cookie: reload the page and try again';
    if (typeof token !== 'string' || token.length === 0) return 'missing CSRF token';
    const expected = Buffer.from(this.tokenFor(nonce));
    const given = Buffer.from(token);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return 'invalid CSRF token: reload the page and try again';
    }
    return undefined;
  }
}

/** One request header as a string (the first one when repeated). */
export function header(req: ConsoleRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function readCookie(req: ConsoleRequest, name: string): string | undefined {
  const cookies = header(req, 'cookie');
  if (!cookies) return undefined;
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
