import { ALLOWED_HOST, ALLOWED_PORT, parseHost, parsePort } from '../common/host-address.js';
import type { ServiceInstance } from './service-instance.interface.js';

/** Outcome of reading one registry value. @internal */
export type ParseResult = { ok: true; instance: ServiceInstance } | { ok: false; reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a registry value. Accepts any JSON object with a `host` that can be called (a DNS name,
 * IPv4, or IPv6 bare or in brackets: lib/common/host-address.ts) and a `port` from 1 to 65535 (what
 * plain etcd3 scripts write), defaulting `metadata` to `{}` and `weight` to 1. An IPv6 host is
 * returned bare.
 * @internal
 */
export function parseInstance(
  serviceName: string,
  instanceId: string,
  raw: Uint8Array,
): ParseResult {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return { ok: false, reason: `value is not UTF-8 text (${raw.length} bytes)` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: `value is not JSON: ${preview(text)}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, reason: `value is not a JSON object: ${preview(text)}` };
  }
  const record = value as Record<string, unknown>;
  const { host, port } = record;
  const hostName = parseHost(host);
  if (hostName === undefined) {
    return { ok: false, reason: `"host" must be ${ALLOWED_HOST}, got ${typeName(host)}` };
  }
  const portNumber = parsePort(port);
  if (portNumber === undefined) {
    return { ok: false, reason: `"port" must be ${ALLOWED_PORT}, got ${typeName(port)}` };
  }
  const metadata = record.metadata ?? {};
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    return { ok: false, reason: `"metadata" must be an object, got ${typeName(record.metadata)}` };
  }
  const weight = record.weight ?? 1;
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
    return { ok: false, reason: `"weight" must be a number >= 0, got ${typeName(record.weight)}` };
  }
  const instance: ServiceInstance = {
    serviceName,
    instanceId,
    host: hostName,
    port: portNumber,
    metadata: metadata as Record<string, unknown>,
    weight,
  };
  if (typeof record.registeredAt === 'string') instance.registeredAt = record.registeredAt;
  return { ok: true, instance };
}

/** The value this module writes for its own registration. @internal */
export function serializeInstance(instance: ServiceInstance): string {
  return JSON.stringify({
    host: instance.host,
    port: instance.port,
    serviceName: instance.serviceName,
    instanceId: instance.instanceId,
    metadata: instance.metadata,
    weight: instance.weight,
    registeredAt: instance.registeredAt,
  });
}

function preview(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return JSON.stringify(oneLine.length > 60 ? `${oneLine.slice(0, 57)}...` : oneLine);
}

function typeName(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${preview(value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${value}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}
