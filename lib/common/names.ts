import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/*
 * The name rules of the module, in one place: every name below becomes one etcd key segment, so none
 * may hold "/". The registry's readers are lenient on purpose (a plain etcd3 script may write any
 * instance id); these rules are for what this module writes and what its API is asked for.
 */

/** Service names and profile names. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** Instance ids, election and lock names: ":" allowed too (e.g. `host:port`). */
const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

/** What a service or profile name may hold, for error messages. @internal */
export const NAME_RULE = 'letters, digits, ".", "_" or "-" (no "/")';
/** What an instance id, election or lock name may hold, for error messages. @internal */
export const ID_RULE = 'letters, digits, ".", "_", ":" or "-" (no "/")';

/** A service name (`registry.serviceName`, discovery) or a profile name. @internal */
export function isServiceName(value: unknown): value is string {
  return typeof value === 'string' && NAME.test(value);
}

/** An instance id (`registry.instanceId`), an election or a lock name. @internal */
export function isInstanceId(value: unknown): value is string {
  return typeof value === 'string' && ID.test(value);
}

/**
 * Throws a `TypeError` naming the value when it is not a service name (a discovery call).
 * @internal
 */
export function assertServiceName(serviceName: unknown): asserts serviceName is string {
  if (!isServiceName(serviceName)) {
    throw new TypeError(
      `service name ${JSON.stringify(serviceName)} is not valid: use ${NAME_RULE}`,
    );
  }
}

/**
 * An id for this process when none is configured: `<hostname>-<pid>-<6 hex digits>`, with any
 * character outside the id rule replaced by "-". @internal
 */
export function defaultInstanceId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`.replace(
    /[^A-Za-z0-9._-]/g,
    '-',
  );
}
