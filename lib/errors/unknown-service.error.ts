import { NestEtcdError } from './nest-etcd.error.js';

/** An admin command named a service that has neither a registered instance nor a status key. */
export class UnknownServiceError extends NestEtcdError {
  override readonly name = 'UnknownServiceError';

  constructor(
    /** The service name given. */
    readonly service: string,
    /** The services etcd knows, for the message. */
    readonly known: readonly string[],
  ) {
    super(
      `unknown service "${service}": no instance is registered and none reports a config status` +
        (known.length > 0
          ? ` (known: ${known.slice(0, 10).join(', ')})`
          : ' (no service is known)'),
    );
  }
}
