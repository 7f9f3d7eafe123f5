import { InvalidOptionsError } from '../errors/invalid-options.error.js';
import { defaultActor } from './console-http.js';
import type { EtcdConsoleOptions, ResolvedConsoleOptions } from './console.interfaces.js';

const KNOWN = ['path', 'readOnly', 'actor', 'admin', 'connection', 'banner', 'refreshInterval'];

/** Defaults and checks of `EtcdConsoleModule.forRoot()` options (InvalidOptionsError on bad input). */
export function resolveConsoleOptions(options: EtcdConsoleOptions): ResolvedConsoleOptions {
  for (const name of Object.keys(options)) {
    if (!KNOWN.includes(name)) {
      throw new InvalidOptionsError(`console.${name}`, name, `one of ${KNOWN.join(', ')}`);
    }
  }
  const path = (options.path ?? 'etcd').replace(/^\/+|\/+$/g, '');
  if (!/^[A-Za-z0-9._~\-/]*$/.test(path) || path.includes('//')) {
    throw new InvalidOptionsError(
      'console.path',
      options.path,
      'a URL path of letters, digits and . _ ~ - / (e.g. "etcd" or "admin/etcd")',
    );
  }
  if (options.readOnly !== undefined && typeof options.readOnly !== 'boolean') {
    throw new InvalidOptionsError('console.readOnly', options.readOnly, 'true or false');
  }
  if (options.actor !== undefined && typeof options.actor !== 'function') {
    throw new InvalidOptionsError('console.actor', options.actor, 'a function (req) => string');
  }
  const refreshInterval = options.refreshInterval ?? 2000;
  if (!Number.isFinite(refreshInterval) || refreshInterval < 100) {
    throw new InvalidOptionsError(
      'console.refreshInterval',
      options.refreshInterval,
      'a number of ms >= 100',
    );
  }
  return {
    path,
    readOnly: options.readOnly ?? true,
    actor: options.actor ?? defaultActor,
    banner: options.banner,
    refreshInterval,
  };
}
