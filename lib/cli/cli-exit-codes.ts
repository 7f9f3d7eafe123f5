import { ConfigConflictError } from '../errors/config-conflict.error.js';
import { ConfigKeyOutsidePrefixError } from '../errors/config-key-outside-prefix.error.js';
import { ConfigValidationError } from '../errors/config-validation.error.js';
import { CliUsageError } from '../errors/cli-usage.error.js';
import { InvalidOptionsError } from '../errors/invalid-options.error.js';
import { UnknownServiceError } from '../errors/unknown-service.error.js';
import { NestEtcdError } from '../errors/nest-etcd.error.js';

/** The exit codes of docs/cli.md ("Exit codes"). @internal */
export const EXIT = {
  /** ok / no difference */
  ok: 0,
  /** a difference found, an instance rejected the change, a CAS conflict */
  different: 1,
  /** usage or validation error: nothing was written */
  usage: 2,
  /** etcd unreachable, authentication or permission refused, or timeout */
  unavailable: 3,
} as const;

/** The exit code an error ends the command with. @internal */
export function exitCodeOf(err: unknown): number {
  if (err instanceof ConfigConflictError) return EXIT.different;
  if (
    err instanceof CliUsageError ||
    err instanceof ConfigValidationError ||
    err instanceof ConfigKeyOutsidePrefixError ||
    err instanceof UnknownServiceError ||
    err instanceof InvalidOptionsError
  ) {
    return EXIT.usage;
  }
  // connection, auth, permission, an answer refusing the request, a timeout
  if (err instanceof NestEtcdError) return EXIT.unavailable;
  return EXIT.usage;
}
