import { NestEtcdError } from './nest-etcd.error.js';

/**
 * Thrown at startup when an {@link EtcdModuleOptions} value is not acceptable.
 * The message names the option, the value that was given and what is allowed.
 */
export class InvalidOptionsError extends NestEtcdError {
  override readonly name: string = 'InvalidOptionsError';

  constructor(
    /** Dotted path of the offending option, e.g. `registry.ttl`. */
    readonly option: string,
    /** The value that was given (secrets are never echoed). */
    readonly given: unknown,
    /** What would have been accepted. */
    readonly allowed: string,
  ) {
    super(`Invalid nest-etcd option "${option}": got ${describe(given)}; expected ${allowed}.`);
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null)
    return String(value);
  if (Buffer.isBuffer(value)) return `a Buffer of ${value.length} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  try {
    const json = JSON.stringify(value);
    return json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return typeof value;
  }
}
