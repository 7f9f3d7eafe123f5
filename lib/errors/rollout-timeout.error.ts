import { NestEtcdError } from './nest-etcd.error.js';

/** `--wait` ran out: some instances did not report the change in time (exit code 3). */
export class RolloutTimeoutError extends NestEtcdError {
  override readonly name = 'RolloutTimeoutError';

  constructor(
    /** The etcd key written. */
    readonly etcdKey: string,
    /** The revision waited for. */
    readonly revision: number,
    /** The instances that did not report it. */
    readonly instanceIds: readonly string[],
    /** The wait, in ms. */
    readonly timeoutMs: number,
  ) {
    super(
      `${instanceIds.length} instance(s) did not report revision ${revision} of "${etcdKey}" ` +
        `within ${timeoutMs} ms: ${instanceIds.join(', ')}`,
    );
  }
}
