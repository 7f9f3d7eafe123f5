import { NestEtcdError } from './nest-etcd.error.js';

/** The `nest-etcd` command line was not understood (exit code 2). The message says what to type. */
export class CliUsageError extends NestEtcdError {
  override readonly name = 'CliUsageError';

  constructor(message: string) {
    super(message);
  }
}
