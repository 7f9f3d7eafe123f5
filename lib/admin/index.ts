// Entry point of the `nest-etcd/admin` subpath: the operator's core, usable without Nest.
export { EtcdAdmin } from './etcd-admin.js';
export { diffLines, hasChanges, renderDiff } from './text-diff.js';
export type * from './admin.interfaces.js';
export { UnknownServiceError } from '../errors/unknown-service.error.js';
export { ConfigKeyOutsidePrefixError } from '../errors/config-key-outside-prefix.error.js';
export {
  ConfigValidationError,
  type ConfigValidationProblem,
} from '../errors/config-validation.error.js';
export { ConfigConflictError } from '../errors/config-conflict.error.js';
