import { type OnApplicationShutdown } from '@nestjs/common';
import { isBrokenCircuitError } from 'cockatiel';
import { Etcd3, type IOptions, type Namespace } from 'etcd3';
import { isIP } from 'node:net';
import { sleep, systemClock } from '../common/clock.js';
import { describeCause } from '../common/describe-cause.js';
import { within } from '../common/timing.js';
import { EtcdAuthTokenExpiredError } from '../errors/etcd-auth-token-expired.error.js';
import { EtcdAuthError } from '../errors/etcd-auth.error.js';
import { EtcdConnectionError } from '../errors/etcd-connection.error.js';
import { EtcdPermissionError } from '../errors/etcd-permission.error.js';
import { EtcdRequestRejectedError } from '../errors/etcd-request-rejected.error.js';
import { EtcdUnavailableError } from '../errors/etcd-unavailable.error.js';
import type { ResolvedEtcdOptions } from '../options/resolved-etcd-options.interface.js';
import {
  channelCredentialsOf,
  forgetWatchers,
  interceptStreamFailures,
  interceptWatchCancels,
  invalidateAuthToken,
  hideClientOptions,
  omitIpServername,
  rebuildWatchStream,
} from './etcd3-internals.adapter.js';
import { EndpointSync } from './endpoint-sync.js';
import {
  answerHint,
  classifyEtcdError,
  etcdAnswerCode,
  isDeadlineExceeded,
  isMissingUserName,
  isReasonless,
  isTlsFailure,
  type EtcdFailure,
} from './etcd-errors.classifier.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, SharedChannelPool } from './shared-channel-pool.js';
import { plainHostsSpeakingTls } from './tls-probe.js';
import { TransportPolicy } from './transport-policy.js';

/** Deadline of ordinary (unary) etcd calls, so a partitioned etcd never makes a call hang for ever. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Key read once at boot when no user is configured, to detect an etcd that requires auth. */
const AUTH_PROBE_KEY = 'health';

/** At most one re-authentication of the watch stream per this many ms (a misbehaving etcd). */
const REAUTH_MIN_INTERVAL_MS = 1000;

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
  readonly channels: SharedChannelPool;
  private closed = false;
  private readonly policy: TransportPolicy;
  /** Follows the cluster's member list (`autoSyncEndpoints`), when on. */
  readonly endpointSync: EndpointSync | undefined;
  private reauthTimer: NodeJS.Timeout | undefined;

  /**
   * The etcd hosts the client uses now, as its retries and breakers count them: the configured
   * hosts, or the cluster's members once `autoSyncEndpoints` switched the client to them.
   */
  get hosts(): readonly string[] {
    return this.policy.hosts;
  }
  private lastReauth = Number.NEGATIVE_INFINITY;

  constructor(readonly options: ResolvedEtcdOptions) {
    this.policy = new TransportPolicy(options);
    // A handshake (TCP + TLS + HTTP/2 settings) that takes longer than this was swallowed.
    this.channels = new SharedChannelPool(
      Math.min(DEFAULT_HANDSHAKE_TIMEOUT_MS, options.connectTimeout),
    );
    this.client = new Etcd3(buildClientOptions(options, this.channels, this.policy));
    hideClientOptions(this.client);
    // no DEP0123 warning for an etcd host given as an IP address over TLS (authenticator included)
    const credentials = channelCredentialsOf(this.client);
    if (credentials) omitIpServername(credentials, host => isIP(host) !== 0);
    this.kv = options.namespace ? this.client.namespace(options.namespace) : this.client;
    this.endpointSync = options.autoSyncEndpoints
      ? new EndpointSync(this.client, options.hosts, options.autoSyncEndpoints.interval)
      : undefined;
    // retries and breakers follow the hosts the client uses, not the configured ones
    this.endpointSync?.onSwitch(hosts => this.policy.useHosts(hosts));
    // etcd checks the token of a watch stream when a watch is created on it: after the token
    // expired, every new watch on the old stream is cancelled with "invalid auth token". Swallow
    // that cancel (the watcher stays attached), authenticate again and reopen the stream, which
    // re-creates every watcher on it.
    // A stream that fails with an answer from etcd, or with its own deadline (a keep-alive the
    // caller gave a short timeout), says nothing bad about the connection: no reset, no count.
    // Dead connections are found by keep-alive pings and by the calls that fail on them.
    interceptStreamFailures(this.client, error => {
      const failure = classifyEtcdError(error);
      if (failure.kind !== 'transport') return 'ignore';
      return isDeadlineExceeded(failure) ? 'ignore' : 'forward';
    });
    interceptWatchCancels(this.kv, reason => {
      if (etcdAnswerCode(reason) !== 'invalid-auth-token') {
        return 'forward';
      }
      this.reauthenticateWatchStream();
      return 'swallow';
    });
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

  /**
   * One readable line for a failed call, for log messages: etcd's reason for an answer (through
   * {@link mapError}), the real cause for a transport failure (never "circuit breaker is open").
   */
  describeFailure(err: unknown, operation: string, key: string): string {
    const mapped = this.mapError(err, operation, key);
    return mapped instanceof EtcdUnavailableError
      ? describeCause(mapped.cause)
      : describeCause(mapped);
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
    // Also when etcd does not answer now (a boot from the snapshot file): the member list is
    // followed from the first interval on.
    this.endpointSync?.start();
    const deadline = systemClock.now() + connectTimeout;
    let lastError: unknown;
    while (!this.closed) {
      const remaining = Math.floor(deadline - systemClock.now());
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
        if (isTlsFailure(err))
          throw new EtcdConnectionError(hosts, connectTimeout, err, undefined, true);
        // Once the breaker opens it only says "circuit breaker is open": keep the real cause (TLS,
        // refused connection, ...) for the EtcdConnectionError message. With several hosts the
        // breaker's last transport failure may be the one that names the problem.
        const cause = isBrokenCircuitError(err) ? this.policy.lastTransportFailure : err;
        if (isTlsFailure(cause)) {
          throw new EtcdConnectionError(hosts, connectTimeout, cause, undefined, true);
        }
        // On a starved event loop the last attempt can start with its deadline all but spent: its
        // DEADLINE_EXCEEDED says less than an earlier cause (a refused connection, say), kept over it.
        const telling = cause !== undefined && !isReasonless(cause);
        const deadlineOnly = isDeadlineExceeded(classifyEtcdError(cause));
        if (telling && (lastError === undefined || !deadlineOnly)) lastError = cause;
        else lastError ??= err;
      }
      await sleep(Math.min(250, Math.max(0, deadline - systemClock.now())));
    }
    throw new EtcdConnectionError(hosts, connectTimeout, lastError, await this.bootHint());
  }

  /**
   * After a failed boot: when an `http://` host answers a TLS handshake, etcd there speaks TLS and
   * the client spoke plain HTTP/2 to it (its answer is only "Failed to connect").
   */
  private async bootHint(): Promise<string | undefined> {
    if (this.options.credentials) return undefined; // with credentials every host is dialled with TLS
    const tlsHosts = await plainHostsSpeakingTls(this.options.hosts);
    if (tlsHosts.length === 0) return undefined;
    return (
      `etcd at ${tlsHosts.join(', ')} speaks TLS: use https:// in the hosts option / ETCD_HOSTS ` +
      '(with credentials.rootCertificate or ETCD_CA_FILE when its CA is not a public one).'
    );
  }

  /**
   * Classifies an error from the etcd client once and maps it to one a person can act on:
   * {@link EtcdAuthError}, {@link EtcdPermissionError}, {@link EtcdRequestRejectedError} (etcd's
   * reason), {@link EtcdUnavailableError} (etcd not reached; the real cause, never "circuit breaker
   * is open"). An expired auth token is forgotten, so the next call authenticates again. etcd3's
   * lease-not-found error is returned as it is (the lease supervisor acts on it).
   */
  mapError(err: unknown, operation: string, key: string): Error {
    const failure = classifyEtcdError(err);
    const fullKey = this.options.namespace + key;
    if (failure.kind === 'answer') return this.mapAnswer(err, failure, operation, fullKey);
    if (failure.kind === 'transport') {
      const cause = failure.breakerOpen ? (this.policy.lastTransportFailure ?? err) : err;
      return new EtcdUnavailableError(operation, fullKey, this.hosts, cause);
    }
    return err instanceof Error ? err : new Error(describeCause(err));
  }

  /** Closes the client. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reauthTimer);
    this.endpointSync?.stop();
    // Watchers still attached (a cancel etcd never answered) would make etcd3 reconnect for them
    // once the stream dies; then every open call is cancelled, so nothing outlives the module.
    forgetWatchers(this.kv);
    if (this.kv !== this.client) forgetWatchers(this.client);
    // the connection may be shared with other modules of the process: closing is not a reset
    this.channels.prepareClose();
    this.client.close();
    this.channels.close();
  }

  private mapAnswer(
    err: unknown,
    failure: Extract<EtcdFailure, { kind: 'answer' }>,
    operation: string,
    key: string,
  ): Error {
    const username = this.options.auth?.username;
    switch (failure.code) {
      case 'auth-failed':
        return this.mapAuthError(err) ?? new EtcdAuthError(username, this.options.hosts);
      case 'permission-denied':
        return new EtcdPermissionError(operation, key, username);
      case 'invalid-auth-token':
        // Only a stream can get here (etcd3 retries unary calls itself): the next call authenticates.
        invalidateAuthToken(this.client);
        return new EtcdRequestRejectedError(operation, key, failure.reason);
      case 'lease-not-found':
        return err instanceof Error
          ? err
          : new EtcdRequestRejectedError(operation, key, failure.reason);
      default:
        return new EtcdRequestRejectedError(
          operation,
          key,
          failure.reason,
          answerHint(failure.code),
        );
    }
  }

  private mapAuthError(err: unknown): EtcdAuthError | undefined {
    const failure = classifyEtcdError(err);
    if (failure.kind !== 'answer' || failure.code !== 'auth-failed') return undefined;
    const username = this.options.auth?.username;
    if (username === undefined && !isMissingUserName(failure)) return undefined;
    return new EtcdAuthError(username, this.options.hosts);
  }

  /** Authenticates again and reopens the watch stream, at most once per second. */
  private reauthenticateWatchStream(): void {
    if (this.reauthTimer || this.closed) return;
    const wait = Math.max(0, this.lastReauth + REAUTH_MIN_INTERVAL_MS - systemClock.now());
    // Never synchronously: etcd3 is in the middle of handling the stream's message.
    this.reauthTimer = setTimeout(() => {
      this.reauthTimer = undefined;
      if (this.closed) return;
      this.lastReauth = systemClock.now();
      invalidateAuthToken(this.client);
      rebuildWatchStream(this.kv, new EtcdAuthTokenExpiredError());
    }, wait);
    this.reauthTimer.unref();
  }
}

function buildClientOptions(
  options: ResolvedEtcdOptions,
  channels: SharedChannelPool,
  policy: TransportPolicy,
): IOptions {
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
    // Only transport failures count against a host; answers from etcd reach the caller as they are.
    faultHandling: policy.faultHandling(),
  };
}
