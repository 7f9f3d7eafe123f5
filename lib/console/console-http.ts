import type { ConsoleRequest } from './console.interfaces.js';
import { CONSOLE_CSP } from './console-assets.js';

/*
 * The console's HTTP edges, the same on express and fastify: answers are web `Response`s (Nest
 * sends them whole: status, headers, body), requests are read through the fields both share.
 */

/** Headers of every page the console serves. */
export const PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** An HTML answer. */
export function htmlResponse(body: string, status = 200, setCookie?: string): Response {
  const headers = new Headers(PAGE_HEADERS);
  if (setCookie) headers.set('set-cookie', setCookie);
  return new Response(body, { status, headers });
}

/** A 303 to a page of the console (after a POST: the browser GETs it). */
export function seeOther(location: string): Response {
  return new Response(null, { status: 303, headers: { location, 'cache-control': 'no-store' } });
}

/** A static asset of the console. */
export function assetResponse(body: string, contentType: string): Response {
  return new Response(body, {
    headers: {
      'content-type': contentType,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-cache',
    },
  });
}

/**
 * The console's root path as the browser sees it (global prefix and host routes included): the
 * request's path without the `depth` segments of the route that matched.
 */
export function baseOf(req: ConsoleRequest & { originalUrl?: string }, depth: number): string {
  const url = req.originalUrl ?? req.url ?? '/';
  const path = url.split('?')[0]!.replace(/\/+$/, '');
  const segments = path.split('/');
  return segments.slice(0, Math.max(1, segments.length - depth)).join('/');
}

/**
 * The fields of a posted form, whatever parsed the body: an object (express's urlencoded parser,
 * fastify's), a string (a host that reads every body as text), or nothing.
 */
export function formOf(body: unknown): Record<string, string> {
  if (typeof body === 'string') return Object.fromEntries(new URLSearchParams(body));
  if (Buffer.isBuffer(body)) return Object.fromEntries(new URLSearchParams(body.toString('utf8')));
  if (body === null || typeof body !== 'object') return {};
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    if (typeof value === 'string') out[name] = value;
    else if (Array.isArray(value) && typeof value[0] === 'string') out[name] = value[0];
  }
  return out;
}

/** The default actor: the host's authenticated user, else `anonymous`. */
export function defaultActor(req: ConsoleRequest): string {
  const user = req.user;
  const id = user?.id ?? user?.name;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : 'anonymous';
}
