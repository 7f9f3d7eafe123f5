import { networkInterfaces } from 'node:os';
import { ALLOWED_HOST, parseHost } from '../common/host-address.js';
import {
  ID_RULE,
  NAME_RULE,
  defaultInstanceId,
  isInstanceId,
  isServiceName,
} from '../common/names.js';
import { InvalidOptionsError } from '../errors/invalid-options.error.js';
import type { EtcdModuleOptions } from './etcd-module-options.interface.js';
import {
  DEFAULT_EJECT_FAILURES,
  DEFAULT_EJECT_FOR_MS,
  type ResolvedDiscoveryOptions,
  type ResolvedEtcdOptions,
} from './resolved-etcd-options.interface.js';

/*
 * The registry group: this instance (`registry`: name, id, address, ttl...) and how it calls
 * others through the registry (`registry.zone` / env ETCD_ZONE, `passiveHealth`). Part of
 * resolveEtcdOptions() (etcd-options.resolver.ts); `registry.prefix` is resolved there.
 */

/**
 * Resolves `registry`: this instance's name, id, address, metadata, weight, ttl, auto-registration
 * and drain delay (`false` when off).
 * @internal
 */
export function resolveRegistry(
  value: EtcdModuleOptions['registry'],
): ResolvedEtcdOptions['registry'] {
  if (value === undefined || value === false) return false;
  if (value === null || typeof value !== 'object') {
    throw new InvalidOptionsError('registry', value, 'false or an object { serviceName, ... }');
  }
  const { serviceName } = value;
  if (!isServiceName(serviceName)) {
    throw new InvalidOptionsError(
      'registry.serviceName',
      serviceName,
      `a non-empty name of ${NAME_RULE}`,
    );
  }
  let instanceId = value.instanceId;
  if (instanceId === undefined) {
    instanceId = defaultInstanceId();
  } else if (!isInstanceId(instanceId)) {
    throw new InvalidOptionsError(
      'registry.instanceId',
      instanceId,
      `a non-empty id of ${ID_RULE}`,
    );
  }
  // the rule other instances read this value with (lib/common/host-address.ts); IPv6 kept bare
  const host = value.host === undefined ? defaultHost() : parseHost(value.host);
  if (host === undefined) {
    throw new InvalidOptionsError('registry.host', value.host, ALLOWED_HOST);
  }
  const port = value.port;
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new InvalidOptionsError(
      'registry.port',
      port,
      'an integer from 1 to 65535 (or omit it to use the HTTP port)',
    );
  }
  const metadata = value.metadata ?? {};
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new InvalidOptionsError('registry.metadata', metadata, 'a plain object');
  }
  const weight = value.weight ?? 1;
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
    throw new InvalidOptionsError('registry.weight', weight, 'a finite number >= 0');
  }
  const ttl = value.ttl ?? 10;
  if (!Number.isInteger(ttl) || ttl < 2) {
    throw new InvalidOptionsError('registry.ttl', ttl, 'an integer number of seconds >= 2');
  }
  const autoRegister = value.autoRegister ?? true;
  if (typeof autoRegister !== 'boolean') {
    throw new InvalidOptionsError('registry.autoRegister', autoRegister, 'true or false');
  }
  const drainDelay = value.drainDelay ?? 0;
  if (typeof drainDelay !== 'number' || !Number.isInteger(drainDelay) || drainDelay < 0) {
    throw new InvalidOptionsError(
      'registry.drainDelay',
      drainDelay,
      'an integer number of ms >= 0',
    );
  }
  return { serviceName, instanceId, host, port, metadata, weight, ttl, autoRegister, drainDelay };
}

function defaultHost(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return '127.0.0.1';
}

/**
 * Calls through the registry: `registry.zone` (default env `ETCD_ZONE`) and `passiveHealth`.
 * @internal
 */
export function resolveDiscoveryOptions(
  options: EtcdModuleOptions,
  env: NodeJS.ProcessEnv,
): ResolvedDiscoveryOptions {
  const registry =
    options.registry && typeof options.registry === 'object' ? options.registry : undefined;
  let zone: string | undefined;
  if (registry?.zone !== undefined) {
    zone = zoneString('registry.zone', registry.zone);
  } else if (env.ETCD_ZONE !== undefined && env.ETCD_ZONE.trim() !== '') {
    zone = zoneString('registry.zone (from env ETCD_ZONE)', env.ETCD_ZONE.trim());
  }
  const health = options.passiveHealth;
  if (health !== undefined && (health === null || typeof health !== 'object')) {
    throw new InvalidOptionsError('passiveHealth', health, 'an object { failures?, ejectFor? }');
  }
  const failures = health?.failures ?? DEFAULT_EJECT_FAILURES;
  if (!Number.isInteger(failures) || failures < 1) {
    throw new InvalidOptionsError('passiveHealth.failures', failures, 'an integer >= 1');
  }
  const ejectFor = health?.ejectFor ?? DEFAULT_EJECT_FOR_MS;
  if (typeof ejectFor !== 'number' || !Number.isFinite(ejectFor) || ejectFor < 0) {
    throw new InvalidOptionsError('passiveHealth.ejectFor', ejectFor, 'a number of ms >= 0');
  }
  return { zone, passiveHealth: { failures, ejectFor } };
}

function zoneString(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 128) {
    throw new InvalidOptionsError(option, value, 'a non-empty zone name such as "eu-west-1a"');
  }
  return value;
}
