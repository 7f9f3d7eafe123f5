import { type OnApplicationShutdown } from '@nestjs/common';
import {
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  isBrokenCircuitError,
  retry,
} from 'cockatiel';
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  EtcdUserNotFoundError,
  isRecoverableError,
  type IOptions,
  type Namespace,
} from 'etcd3';
import { inspect } from 'node:util';
import { describeCause, isTlsError } from '../common/describe-cause.js';
import { within } from '../common/timing.js';
import { EtcdAuthError } from '../errors/etcd-auth.error.js';
import { EtcdConnectionError } from '../errors/etcd-connection.error.js';
import { EtcdPermissionError } from '../errors/etcd-permission.error.js';
import type { ResolvedEtcdOptions } from '../etcd-options.resolver.js';
import { SharedChannelPool } from './shared-channel-pool.js';

/** Deadline of ordinary (unary) etcd calls, so a partitioned etcd never makes a call hang for ever. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Key read once at boot when no user is configured, to detect an etcd that requires auth. */
const AUTH_PROBE_KEY = 'health';

/**
 * Owns the module's single `Etcd3` client: builds it from the resolved options (hosts, auth, TLS,
 * gRPC keep-alive), checks the connection at boot, maps client errors to the module's error classes
 * and closes the client on shutdown.
 * @internal
 */
export class EtcdConnection implements OnApplicationShutdown {
  /** The root client (no namespace). Closed by {@link close}. */
  readonly client: Etcd3;
  /** The client scoped to `options.namespace`: every key the module touches goes through it. */
  readonly kv: Namespace;
  /** The shared gRPC channels behind the client (one connection per etcd host). */
  readonly channels = new SharedChannelPool();
  /** True when etcd was unreachable at boot and the app started from a config snapshot. */
  bootedOffline = false;
  private closed = false;

  constructor(readonly options: ResolvedEtcdOptions) {
    this.client = new Etcd3(buildClientOptions(options, this.channels));
    hideSecrets(this.client);
    this.kv = options.namespace ? this.client.namespace(options.namespace) : this.client;
  }

  /**
   * Closes the client, last: after the registry deregistered (`onModuleDestroy`) and the informers
   * stopped (`beforeApplicationShutdown`). Closing also aborts any call still in flight, so a dead
   * etcd never delays shutdown. @internal
   */
  onApplicationShutdown(): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /** Whether {@link close} was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Asks etcd for its status until it answers or `connectTimeout` passes.
   * @throws EtcdAuthError when the credentials are refused, or etcd requires auth and no user is
   *   configured (at once, no retry).
   * @throws EtcdConnectionError when nothing answered in time, or at once when the TLS handshake
   *   fails on a certificate.
   */
  async connect(): Promise<void> {
    const { hosts, connectTimeout } = this.options;
    const deadline = Date.now() + connectTimeout;
    let lastError: unknown;
    while (!this.closed) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const answered = async (call: Promise<unknown>) => {
        if (!(await within(call, remaining)).settled) {
          throw new Error(`no answer within ${remaining} ms`);
        }
      };
      try {
        await answered(this.client.maintenance.status({ deadline: Date.now() + remaining }));
        if (!this.options.auth) {
          // Status needs no auth: read one key so an etcd with auth on fails boot now, clearly,
          // instead of when the config is first listed.
          await answered(this.client.get(AUTH_PROBE_KEY).exists());
        }
        return;
      } catch (err) {
        const mapped = this.mapAuthError(err);
        if (mapped) throw mapped;
        // a certificate the client does not trust will not become trusted by retrying
        if (isTlsError(err)) throw new EtcdConnectionError(hosts, connectTimeout, err);
        // Once the breaker opens it only says "circuit breaker is open": keep the real cause (TLS,
        // refused connection, ...) for the EtcdConnectionError message.
        if (!isBrokenCircuitError(err) || lastError === undefined) lastError = err;
      }
      await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
    }
    throw new EtcdConnectionError(hosts, connectTimeout, lastError);
  }

  /**
   * Maps an error from the etcd client to one a person can act on. Returns the original error when no
   * better one applies.
   */
  mapError(err: unknown, operation: string, key: string): Error {
    const auth = this.mapAuthError(err);
    if (auth) return auth;
    if (err instanceof EtcdPermissionDeniedError) {
      return new EtcdPermissionError(
        operation,
        this.options.namespace + key,
        this.options.auth?.username,
      );
    }
    if (err instanceof Error) return err;
    return new Error(describeCause(err));
  }

  /** Closes the client. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
    this.channels.close();
  }

  private mapAuthError(err: unknown): EtcdAuthError | undefined {
    const username = this.options.auth?.username;
    if (
      username === undefined &&
      err instanceof Error &&
      err.message.includes('etcdserver: user name is empty')
    ) {
      return new EtcdAuthError(undefined, this.options.hosts);
    }
    if (
      username !== undefined &&
      (err instanceof EtcdAuthenticationFailedError || err instanceof EtcdUserNotFoundError)
    ) {
      return new EtcdAuthError(username, this.options.hosts);
    }
    return undefined;
  }
}

function buildClientOptions(options: ResolvedEtcdOptions, channels: SharedChannelPool): IOptions {
  const retryBackoff = new ExponentialBackoff({
    initialDelay: options.retry.initialDelay,
    maxDelay: options.retry.maxDelay,
  });
  return {
    hosts: options.hosts,
    auth: options.auth
      ? { username: options.auth.username, password: options.auth.password }
      : undefined,
    credentials: options.credentials,
    dialTimeout: options.connectTimeout,
    // One shared channel (one TCP connection) per host for all of etcd3's service clients. Each
    // generation of it has its own subchannel pool: grpc-js has no timeout on a connection whose
    // HTTP/2 handshake was swallowed (a partition that accepts TCP but drops bytes), and a new
    // generation after etcd3's reset dials afresh instead of reusing that stuck connection.
    grpcOptions: channels.wrapOptions({
      'grpc.keepalive_time_ms': options.keepaliveInterval,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeout,
      // etcd's server policy rejects pings on a connection without an open stream ("too many
      // pings"); the watch stream is open whenever there is something to watch, so ping only then.
      'grpc.keepalive_permit_without_calls': 0,
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
      'grpc.initial_reconnect_backoff_ms': options.retry.initialDelay,
      'grpc.max_reconnect_backoff_ms': options.retry.maxDelay,
    }),
    defaultCallOptions: context =>
      context.isStream ? {} : { deadline: Date.now() + REQUEST_TIMEOUT_MS },
    faultHandling: {
      // One attempt per host: our own loops (informer, lease supervisor) own the retrying, with
      // backoff, so a failure is reported promptly instead of being hidden behind retries.
      global: retry(handleWhen(isRecoverableError), {
        maxAttempts: Math.max(0, options.hosts.length - 1),
      }),
      // A short breaker so a recovered etcd is used again within a second.
      host: () =>
        circuitBreaker(handleWhen(isRecoverableError), {
          halfOpenAfter: Math.min(1000, options.retry.maxDelay),
          breaker: new ConsecutiveBreaker(3),
        }),
      // etcd3 drives the cockatiel backoff factory itself (its default is the same class).
      watchBackoff: retryBackoff as unknown as NonNullable<
        NonNullable<IOptions['faultHandling']>['watchBackoff']
      >,
    },
  };
}

/**
 * The etcd3 client keeps its options (with the password) on several internal objects; make sure
 * `inspect()` / `console.log` of any of them never prints the password.
 */
function hideSecrets(client: Etcd3): void {
  const redacted = (label: string) => () => `${label} { [options hidden by nest-etcd] }`;
  const internals = client as unknown as {
    pool?: { options?: unknown; authenticator?: object };
    options?: unknown;
  };
  const targets: Array<[object | undefined, string]> = [
    [client, 'Etcd3'],
    [internals.pool, 'ConnectionPool'],
    [internals.pool?.authenticator, 'Authenticator'],
  ];
  for (const [target, label] of targets) {
    if (target) {
      Object.defineProperty(target, inspect.custom, { value: redacted(label), enumerable: false });
      // JSON loggers (pino, winston) serialize with JSON.stringify, which ignores inspect.custom.
      Object.defineProperty(target, 'toJSON', { value: redacted(label), enumerable: false });
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}
