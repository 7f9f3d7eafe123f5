import type { ChannelCredentials, ChannelOptions, Channel } from '@grpc/grpc-js';
import {
  RecoverableError,
  type Etcd3,
  type IWatchResponse,
  type Namespace,
  type Watcher,
} from 'etcd3';
import type { EventEmitter } from 'node:events';
import { inspect } from 'node:util';

/*
 * THE ONE PLACE where nest-etcd reaches past the public typings of etcd3 and @grpc/grpc-js.
 *
 * Every function below depends on how the installed versions work inside; test/unit/
 * etcd3-internals.spec.ts pins each of them against the installed packages, so an upgrade that
 * changes one fails that test loudly instead of degrading the product quietly. Nothing else in lib/
 * may cast an etcd3 or grpc-js object to reach a member its typings do not declare.
 *
 * Pinned against: etcd3 1.1.2, @grpc/grpc-js 1.14.x (see ETCD3_INTERNALS_PINNED).
 */

/** The versions the internals below were read from (the unit test checks the installed ones). @internal */
export const ETCD3_INTERNALS_PINNED = { etcd3: '1.1.2', grpcJs: '1.14.' } as const;

// ---- grpc-js: one channel for many clients ----------------------------------------------------

/** Builds the channel a grpc-js client uses. @internal */
export type ChannelFactory = (
  target: string,
  credentials: ChannelCredentials,
  options: ChannelOptions,
) => Channel;

/**
 * Makes every grpc-js client built from the returned options take its channel from `factory`.
 *
 * Internal behaviour relied on: grpc-js's `Client` constructor reads `channelFactoryOverride` from
 * the options and then DELETES it from that object, and etcd3 hands the same options object to every
 * service client it builds; a proxy ignores that delete so the second client still sees the factory.
 * @internal
 */
export function withChannelFactory(
  options: ChannelOptions,
  factory: ChannelFactory,
): ChannelOptions {
  const base: ChannelOptions = { ...options, channelFactoryOverride: factory };
  return new Proxy(base, {
    deleteProperty: (target, property) =>
      property === 'channelFactoryOverride' ? true : Reflect.deleteProperty(target, property),
  });
}

/** grpc-js's secure connector, as far as we use it (not in its typings). */
interface SecureConnectorInternals {
  connectionOptions?: { servername?: unknown };
}

const NO_IP_SERVERNAME = Symbol('nest-etcd: no IP servername');

/**
 * Makes TLS connections built from `credentials` send no server name (SNI) when the host is an IP
 * address: grpc-js sets `servername` to the target host, and Node prints DEP0123 ("Setting the TLS
 * ServerName to an IP address is not permitted by RFC 6066") for an IP. The certificate is still
 * checked against the host (Node falls back to `host`, which grpc-js sets too). DNS names keep their
 * servername. Changes this credentials object only (it belongs to one etcd3 client).
 *
 * Internal behaviour relied on: `ChannelCredentials#_createSecureConnector(...)` returns a connector
 * whose `connectionOptions` object is spread into `tls.connect()`.
 * @returns whether the connector factory was found (false: grpc-js changed)
 * @internal
 */
export function omitIpServername(
  credentials: ChannelCredentials,
  isIp: (host: string) => boolean,
): boolean {
  const target = credentials as unknown as Record<string | symbol, unknown>;
  if (target[NO_IP_SERVERNAME]) return true;
  const create = target._createSecureConnector;
  if (typeof create !== 'function') return false;
  Object.defineProperty(target, NO_IP_SERVERNAME, { value: true });
  Object.defineProperty(target, '_createSecureConnector', {
    configurable: true,
    writable: true,
    value(this: unknown, ...args: unknown[]): unknown {
      const connector = (create as (...a: unknown[]) => SecureConnectorInternals).apply(this, args);
      const options = connector?.connectionOptions;
      if (options && typeof options.servername === 'string' && isIp(options.servername)) {
        delete options.servername;
      }
      return connector;
    },
  });
  return true;
}

/** A call made on a channel (grpc-js's low-level call interface). @internal */
export type ChannelCall = ReturnType<Channel['createCall']>;

/** Where the members of a {@link routedChannel} go. @internal */
export interface ChannelRouting {
  /** Runs instead of the channel's `close()` (the client using the handle is done with it). */
  close(): void;
  /** The `createCall` to use for the next call; `undefined` for the one of {@link channel}. */
  createCall(): Channel['createCall'] | undefined;
  /** The channel that answers every other member (connectivity state, target, ...). */
  channel(): Channel;
}

/**
 * A handle a grpc-js client takes as its channel (from a {@link ChannelFactory}) while the real
 * channel behind it changes: `close` and `createCall` go to `routing`, every other member, bound,
 * to `routing.channel()`.
 *
 * Internal behaviour relied on: a grpc-js `Client` uses its channel only through `createCall`,
 * `close` and the connectivity/target queries, and never checks the channel's class.
 * @internal
 */
export function routedChannel(initial: Channel, routing: ChannelRouting): Channel {
  return new Proxy(initial, {
    get: (_target, property) => {
      if (property === 'close') return () => routing.close();
      if (property === 'createCall') {
        const createCall = routing.createCall();
        if (createCall) return createCall;
      }
      const channel = routing.channel();
      const value: unknown = Reflect.get(channel, property);
      return typeof value === 'function'
        ? (value as (...args: unknown[]) => unknown).bind(channel)
        : value;
    },
  });
}

/**
 * Calls `ended` when the call's final status arrives, before the caller's listener hears it.
 *
 * Internal behaviour relied on: grpc-js's client calls `call.start(metadata, listener)` exactly once
 * and delivers the status (including a local `cancelWithStatus`) only through that listener's
 * `onReceiveStatus`. The listener given to grpc-js is a plain object (not a Proxy): it is called for
 * every message of every stream.
 * @internal
 */
export function onCallEnded(call: ChannelCall, ended: () => void): void {
  const start = call.start.bind(call);
  call.start = (metadata, listener) =>
    start(metadata, {
      onReceiveMetadata: received => listener.onReceiveMetadata(received),
      onReceiveMessage: message => listener.onReceiveMessage(message),
      onReceiveStatus: status => {
        ended();
        listener.onReceiveStatus(status);
      },
    });
}

// ---- etcd3: auth token -------------------------------------------------------------------------

/** etcd3's ConnectionPool, as far as we use it (not exported by etcd3's typings). */
interface ConnectionPoolInternals {
  options?: unknown;
  authenticator?: { invalidateMetadata?: () => void; credentials?: ChannelCredentials };
  markFailed?: (host: unknown, error: unknown) => void;
}

function poolOf(client: Etcd3): ConnectionPoolInternals | undefined {
  return (client as unknown as { pool?: ConnectionPoolInternals }).pool;
}

/**
 * The channel credentials the client's connection pool built (TLS or insecure), shared by every
 * gRPC client of the pool, the authenticator's included.
 * @internal
 */
export function channelCredentialsOf(client: Etcd3): ChannelCredentials | undefined {
  return poolOf(client)?.authenticator?.credentials;
}

/**
 * Forgets the client's cached auth token, so the next call (or the next watch stream) authenticates
 * again. etcd3 does this by itself only for a unary call answered "invalid auth token"; streams
 * opened later would keep presenting the expired token.
 * @returns whether the authenticator was found
 * @internal
 */
export function invalidateAuthToken(client: Etcd3): boolean {
  const authenticator = poolOf(client)?.authenticator;
  if (typeof authenticator?.invalidateMetadata !== 'function') return false;
  authenticator.invalidateMetadata();
  return true;
}

/**
 * The objects inside the client that keep a copy of its options (with the password): the client
 * itself, its ConnectionPool and the pool's Authenticator.
 * @internal
 */
export function objectsHoldingOptions(client: Etcd3): Array<{ target: object; label: string }> {
  const pool = poolOf(client);
  const found: Array<{ target: object; label: string }> = [{ target: client, label: 'Etcd3' }];
  if (pool) found.push({ target: pool, label: 'ConnectionPool' });
  if (pool?.authenticator) found.push({ target: pool.authenticator, label: 'Authenticator' });
  return found;
}

/**
 * Hides the client's options (the password) from `inspect()` and from JSON loggers (pino, winston
 * serialize with `JSON.stringify`, which ignores `inspect.custom`) on every object inside the
 * client that keeps a copy of them (see {@link objectsHoldingOptions}). Mutates those etcd3 objects.
 * @internal
 */
export function hideClientOptions(client: Etcd3): void {
  const redacted = (label: string) => () => `${label} { [options hidden by nest-etcd] }`;
  for (const { target, label } of objectsHoldingOptions(client)) {
    Object.defineProperty(target, inspect.custom, { value: redacted(label), enumerable: false });
    Object.defineProperty(target, 'toJSON', { value: redacted(label), enumerable: false });
  }
}

// ---- etcd3: errors -----------------------------------------------------------------------------

/**
 * Removes etcd3's "recoverable" mark from an error that is an answer from etcd (a refused request,
 * not a broken connection). etcd3 sets the `RecoverableError` symbol as an own property in the
 * constructor of its gRPC error classes (ResourceExhausted among them, which is how etcd says
 * "database space exceeded" or "request too large"), and resets every service client of the host,
 * retiring the channel that carries the watch stream, when a call fails with a recoverable error.
 * @internal
 */
export function markNotRecoverable<E>(err: E): E {
  if (typeof err === 'object' && err !== null && RecoverableError in err) {
    delete (err as Record<symbol, unknown>)[RecoverableError];
  }
  return err;
}

// ---- etcd3: the shared watch stream ------------------------------------------------------------

/** etcd3's `State.Connected` of its WatchManager. */
const WATCH_MANAGER_CONNECTED = 2;

/** A cancel answer of etcd's watch stream (etcd3's IWatchResponse, the part used). */
interface WatchCancelResponse {
  cancel_reason?: string;
}

/** etcd3's WatchManager of one namespace, as far as we use it. */
interface WatchManagerInternals {
  state?: unknown;
  watchers?: EventEmitter[];
  handleError?: (err: Error) => void;
  handleCancelResponse?: (watcher: EventEmitter, res: WatchCancelResponse) => void;
}

function watchManagerOf(kv: Namespace): WatchManagerInternals | undefined {
  return (kv as unknown as { watchManager?: WatchManagerInternals }).watchManager;
}

/**
 * Rebuilds the namespace's shared watch stream: every watcher on it gets `disconnected` (with
 * `reason`) and etcd3 opens a new stream (authenticating again when its token was invalidated).
 * @returns false when the stream is not connected (nothing to rebuild) or etcd3 changed
 * @internal
 */
export function rebuildWatchStream(kv: Namespace, reason: Error): boolean {
  const manager = watchManagerOf(kv);
  if (manager?.state !== WATCH_MANAGER_CONNECTED || typeof manager.handleError !== 'function') {
    return false;
  }
  manager.handleError(reason);
  return true;
}

/**
 * Lets `decide` see every watch cancellation etcd sends on the namespace's stream before the watcher
 * does. When it returns `'swallow'`, the watcher is not told (it stays attached and is re-created on
 * the next stream, so `decide` must then rebuild the stream); `'forward'` is etcd3's own handling.
 * @returns false when etcd3 changed and nothing was installed
 * @internal
 */
export function interceptWatchCancels(
  kv: Namespace,
  decide: (reason: string) => 'forward' | 'swallow',
): boolean {
  const manager = watchManagerOf(kv);
  const original = manager?.handleCancelResponse;
  if (!manager || typeof original !== 'function') return false;
  manager.handleCancelResponse = function (watcher: EventEmitter, res: WatchCancelResponse) {
    if (decide(String(res?.cancel_reason ?? '')) === 'swallow') return;
    original.call(this, watcher, res);
  };
  return true;
}

/**
 * Detaches every watcher still on the namespace's stream, so that once the stream dies (the client
 * closed its channels) etcd3 does not schedule a reconnect for them.
 * @internal
 */
export function forgetWatchers(kv: Namespace): void {
  const manager = watchManagerOf(kv);
  if (Array.isArray(manager?.watchers)) manager.watchers = [];
}

/**
 * Calls `handler` with each response of `watcher` BEFORE etcd3's own handling of it; returns the call
 * that removes it.
 *
 * Internal behaviour relied on: etcd3's `Watcher` constructor installs the first 'data' listener,
 * which strips the namespace from every event's key (mutating the response), emits one `put` /
 * `delete` per event and then stores its resume revision through bignumber.js: 10-15 µs per
 * response on the cold path a config change takes. Listening after it (`on`) makes every change
 * wait for that work; listening first sees each key still WITH the namespace's bytes in front,
 * which the caller strips itself.
 * @internal
 */
export function onWatchResponse(
  watcher: Watcher,
  handler: (res: IWatchResponse) => void,
): () => void {
  watcher.prependListener('data', handler);
  return () => {
    watcher.off('data', handler);
  };
}

// ---- etcd3: failures of streams ---------------------------------------------------------------

/**
 * Lets `decide` see every failure of a stream (watch, lease keep-alive) before etcd3 acts on it.
 * etcd3's `ConnectionPool.markFailed(host, error)` resets every service client of the host (retiring
 * the channel that carries the watch stream) when the error is "recoverable", then counts it in the
 * host's fault handling; `'ignore'` skips both.
 * @returns false when etcd3 changed and nothing was installed
 * @internal
 */
export function interceptStreamFailures(
  client: Etcd3,
  decide: (error: unknown) => 'forward' | 'ignore',
): boolean {
  const pool = poolOf(client);
  const original = pool?.markFailed;
  if (!pool || typeof original !== 'function') return false;
  pool.markFailed = function (host: unknown, error: unknown) {
    if (decide(error) === 'ignore') return;
    original.call(this, host, error);
  };
  return true;
}

// ---- etcd3: the host list ----------------------------------------------------------------------

/** etcd3's `Host` (one etcd endpoint and its service clients), as far as we use it. */
interface HostInternals {
  host?: string;
  channelCredentials?: unknown;
  channelOptions?: unknown;
  close?: () => void;
}

/** etcd3's ConnectionPool with its hosts and options. */
interface PoolHostsInternals {
  hosts?: HostInternals[];
  options?: {
    hosts?: string | string[];
    faultHandling?: { host?: (host: string) => unknown };
  };
}

/**
 * The endpoints the client calls now (`host:port`, as etcd3 keeps them: without the scheme).
 * @internal
 */
export function currentHosts(client: Etcd3): string[] {
  const hosts = (poolOf(client) as PoolHostsInternals | undefined)?.hosts;
  return Array.isArray(hosts) ? hosts.map(h => String(h.host)) : [];
}

/**
 * Replaces the client's endpoints with `urls` (etcd3 fixes them at construction). Hosts whose
 * address stays are kept as they are (their connections and breakers); new ones are built like
 * etcd3 builds them (same TLS credentials, same grpc options, hence the same channel pool, and the
 * per-host fault handling of the client's options); removed ones are closed (calls in progress on
 * them run to their end). The authenticator reads the pool's options, whose `hosts` follow too.
 *
 * Internal behaviour relied on: `ConnectionPool.hosts` is an array of `Host` that every call picks
 * from (`shuffledHosts()` copies it per call); `Host` is `new (url, credentials, grpcOptions,
 * faultHandling)` and strips the scheme into `host`; the pool's `options` is the client's options
 * object, read by the `Authenticator` on each authentication.
 * @returns false when etcd3 changed (nothing replaced)
 * @internal
 */
export function replaceHosts(client: Etcd3, urls: readonly string[]): boolean {
  const pool = poolOf(client) as PoolHostsInternals | undefined;
  const hosts = pool?.hosts;
  const template = hosts?.[0];
  if (!pool?.options || !Array.isArray(hosts) || !template || urls.length === 0) return false;
  const HostClass = (template as { constructor: unknown }).constructor as new (
    url: string,
    credentials: unknown,
    options: unknown,
    faultHandling: unknown,
  ) => HostInternals;
  if (typeof HostClass !== 'function' || typeof template.host !== 'string') return false;
  const bare = (url: string) => url.replace(/^[a-z]+:\/\//i, '');
  const kept = new Map(hosts.map(h => [String(h.host), h]));
  const next = urls.map(
    url =>
      kept.get(bare(url)) ??
      new HostClass(
        url,
        template.channelCredentials,
        template.channelOptions,
        pool.options?.faultHandling?.host?.(url),
      ),
  );
  const keptAfter = new Set(next);
  pool.hosts = next;
  pool.options.hosts = [...urls];
  for (const old of hosts) if (!keptAfter.has(old)) old.close?.();
  return true;
}
