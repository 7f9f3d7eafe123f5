import { closestName } from '../common/closest-name.js';
import { UnknownOptionError } from '../errors/unknown-option.error.js';

/**
 * Every key the module accepts, per level of the options object ('' is the top level). A key not
 * listed is an {@link UnknownOptionError} naming the closest valid one. Levels whose values are
 * free-form (e.g. `registry.metadata`) are not listed.
 * @internal
 */
export const KNOWN_OPTION_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': [
    'hosts',
    'auth',
    'credentials',
    'namespace',
    'connectTimeout',
    'isGlobal',
    'config',
    'registry',
    'passiveHealth',
    'retry',
    'autoSyncEndpoints',
    'watchStallTimeout',
    'keepaliveInterval',
    'keepaliveTimeout',
    'metrics',
  ],
  auth: ['username', 'password'],
  credentials: ['rootCertificate', 'privateKey', 'certChain'],
  config: [
    'prefix',
    'snapshotFile',
    'snapshotDebounce',
    'shared',
    'profiles',
    'nestConfig',
    'report',
    'reportPrefix',
    'maxValueBytes',
  ],
  registry: [
    'serviceName',
    'instanceId',
    'host',
    'port',
    'metadata',
    'weight',
    'ttl',
    'prefix',
    'autoRegister',
    'zone',
    'drainDelay',
  ],
  passiveHealth: ['failures', 'ejectFor'],
  retry: ['initialDelay', 'maxDelay'],
  autoSyncEndpoints: ['interval'],
  metrics: ['registry'],
};

/**
 * Throws {@link UnknownOptionError} for the first key (at any level listed in KNOWN_OPTION_KEYS)
 * that the module does not know, naming the closest valid key. @internal
 */
export function rejectUnknownKeys(options: object): void {
  for (const [level, known] of Object.entries(KNOWN_OPTION_KEYS)) {
    const value: unknown = level === '' ? options : (options as Record<string, unknown>)[level];
    if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
    if (Buffer.isBuffer(value)) continue;
    for (const key of Object.keys(value)) {
      if (known.includes(key)) continue;
      const path = level === '' ? key : `${level}.${key}`;
      const near = closestName(key, known);
      // the value is never kept: under `auth` a misspelled key may hold the password
      throw new UnknownOptionError(
        path,
        `<${typeof (value as Record<string, unknown>)[key]}>`,
        near === undefined ? undefined : level === '' ? near : `${level}.${near}`,
        known,
      );
    }
  }
}
