import { NestEtcdError } from './nest-etcd.error.js';

/** One reason a candidate value was refused. */
export interface ConfigValidationProblem {
  /** The instance that would reject it (absent for a format error, which every instance shares). */
  instanceId?: string;
  /** The reason, one line. */
  reason: string;
}

/**
 * A value was not written: it is not a valid document of its key's format, or an instance it would
 * reach rejects it (its published schema says no). Nothing was written.
 */
export class ConfigValidationError extends NestEtcdError {
  override readonly name = 'ConfigValidationError';

  constructor(
    /** The etcd key that was to be written. */
    readonly etcdKey: string,
    /** Every reason, per instance. */
    readonly problems: readonly ConfigValidationProblem[],
  ) {
    super(
      `value for "${etcdKey}" not written: ` +
        problems
          .map(p => (p.instanceId ? `instance ${p.instanceId} rejects it: ${p.reason}` : p.reason))
          .join('; '),
    );
  }
}
