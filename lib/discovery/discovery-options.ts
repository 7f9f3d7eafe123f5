import type { EtcdModuleOptions } from '../etcd-module-options.interface.js';
import { InvalidOptionsError } from '../errors/invalid-options.error.js';
import { DEFAULT_EJECT_FAILURES, DEFAULT_EJECT_FOR_MS } from './passive-health.js';

/** Calls-through-the-registry settings after defaults and validation. @internal */
export interface ResolvedDiscoveryOptions {
  /** This app's zone: `registry.zone`, else env `ETCD_ZONE`; published as `metadata.zone`. */
  zone?: string;
  passiveHealth: { failures: number; ejectFor: number };
}

/**
 * Resolves `registry.zone` (default env `ETCD_ZONE`) and `passiveHealth`, throwing
 * {@link InvalidOptionsError} on a bad value.
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
