import { isIPv4, isIPv6 } from 'node:net';

/*
 * The one home of the rules for an instance's address: what `registry.host` accepts at boot and what
 * discovery accepts from other instances' registry values. An address that passes can be called:
 * `fetch('http://<host>:<port>/')` (IPv6 in brackets), a TCP client and grpc-js all reach it, and
 * nothing in it can change the scheme, the port, the path or the user part of a URL.
 */

/** What {@link parseHost} accepts, for error messages. @internal */
export const ALLOWED_HOST =
  'a DNS name, an IPv4 address or an IPv6 address (bare or in brackets), without port, user, path or query';

/** What {@link parsePort} accepts, for error messages. @internal */
export const ALLOWED_PORT = 'an integer from 1 to 65535';

const MAX_DNS_NAME = 253;
const DNS_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/**
 * Checks an instance host and returns its canonical form: a DNS name or IPv4 address as given, an
 * IPv6 address bare (`[::1]` and `::1` are both `::1`; URLs put the brackets back). `undefined` when
 * the host is not one of those (`h:8080`, `u@h`, `h?q`, `h/x`, `999.1.1.1`, an IPv6 zone id).
 * @internal
 */
export function parseHost(host: unknown): string | undefined {
  if (typeof host !== 'string' || host.length === 0 || host.length > MAX_DNS_NAME + 2) {
    return undefined;
  }
  if (host.startsWith('[') && host.endsWith(']')) {
    const inner = host.slice(1, -1);
    return isIPv6(inner) && !inner.includes('%') ? inner.toLowerCase() : undefined;
  }
  if (host.includes(':')) {
    return isIPv6(host) && !host.includes('%') ? host.toLowerCase() : undefined;
  }
  if (isIPv4(host)) return host;
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > MAX_DNS_NAME) return undefined;
  const labels = name.split('.');
  if (!labels.every(label => DNS_LABEL.test(label))) return undefined;
  // A URL reads a name whose last label is a number as an IPv4 address (999.1.1.1, 10.1): refuse
  // what is neither a valid address nor a name.
  if (/^(?:\d+|0x[0-9a-f]*)$/i.test(labels[labels.length - 1]!)) return undefined;
  return host;
}

/**
 * Checks an instance port: an integer from 1 to 65535, or a string of digits holding one (plain
 * scripts write `"port": "8080"`). `undefined` otherwise.
 * @internal
 */
export function parsePort(port: unknown): number | undefined {
  const value = typeof port === 'string' && /^\d{1,5}$/.test(port) ? Number(port) : port;
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535
    ? value
    : undefined;
}

/** `host:port` as a URL authority: IPv6 in brackets. @internal */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
