import {
  Channel,
  connectivityState,
  status,
  type ChannelCredentials,
  type ChannelOptions,
} from '@grpc/grpc-js';
import {
  onCallEnded,
  routedChannel,
  withChannelFactory,
  type ChannelCall,
} from './etcd3-internals.adapter.js';

type Call = ChannelCall;

/**
 * One real gRPC channel (one TCP connection) to one etcd host, shared process-wide by the pools of
 * every module whose connection settings (target, credentials, channel options) are the same.
 */
interface Connection {
  readonly channel: Channel;
  readonly target: string;
  readonly credentials: ChannelCredentials;
  readonly options: ChannelOptions;
  /** The pools' generations on this connection; the channel closes when the last one leaves. */
  readonly users: Set<Generation>;
  /** No new call goes to this connection; its channel is closed. */
  retired: boolean;
  /** Running while the channel is connecting: fires when the handshake takes too long. */
  handshakeTimer?: NodeJS.Timeout;
  readonly handshakeTimeoutMs: number;
}

/** One pool's use of a connection: the calls of that pool (module) on it. */
interface Generation {
  readonly pool: SharedChannelPool;
  readonly connection: Connection;
  /** Calls started and not yet ended. */
  readonly calls: Set<Call>;
  /** This pool sends no new call to it (it retired it, or the connection was retired). */
  retired: boolean;
}

/** The connection new calls go to, per target, for the whole process. */
const currentConnections = new Map<string, Connection[]>();

/** Default bound of a connection's handshake (TCP + TLS + HTTP/2 settings), in ms. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 2_000;

/**
 * Gives the etcd3 client ONE TCP connection per etcd host instead of one per gRPC service, and
 * shares that connection with every other module of the process that connects alike.
 *
 * etcd3 builds a separate grpc-js client for each etcd service it uses and, after any recoverable
 * error, closes them all ("reset") and builds new ones. grpc-js lets a client take its channel from a
 * factory (`channelFactoryOverride`), so every client of a host gets a handle onto the pool, and
 * each call goes to the host's **current generation**: one real channel, with its own subchannel
 * pool so that it dials afresh rather than reusing a stuck connection.
 *
 * - **One connection per process and host** (docs/performance.md, "The fleet"): N Nest app
 *   contexts in one process held N TCP connections, and etcd kept a server transport, its buffers
 *   and goroutines for each: the fleet's etcd used 1.8x the memory of a raw etcd3 fleet, whose
 *   clients grpc-js's global subchannel pool already shared. Modules with the same target, credentials and channel options
 *   use the same channel; each pool still tracks and cancels its own calls only. The channel
 *   closes when the last pool using it leaves, so no connection outlives the last module.
 * - When etcd3 closes a client (it judged the connection bad), the connection that client last
 *   used is **retired** for every module: its channel closes (calls still waiting for a connection
 *   fail at once, calls in progress run to their end) and the next call of any module opens a new
 *   one.
 * - **Handshake watchdog**: grpc-js puts no bound on a connection whose HTTP/2 handshake was
 *   swallowed (a link that accepts TCP but drops bytes, e.g. one that flaps): calls would wait for
 *   it until their own deadline. A connection still connecting after `handshakeTimeoutMs` is
 *   retired, so the calls waiting on it fail fast and the next ones dial again.
 * - Closing the pool is **hard**: every call of this pool still open (the watch stream waiting for
 *   its cancel answer, a keep-alive stream) is cancelled; the connection closes once no other
 *   module uses it, even when etcd is blackholed and would otherwise keep it until gRPC's
 *   keep-alive gave up.
 * @internal
 */
export class SharedChannelPool {
  private readonly current = new Map<string, Generation>();
  private readonly live = new Set<Generation>();
  private closed = false;
  /** The owner is closing its etcd3 client: the clients it closes say nothing of the connection. */
  private closing = false;
  private retiredByWatchdog = 0;

  constructor(private readonly handshakeTimeoutMs = DEFAULT_HANDSHAKE_TIMEOUT_MS) {}

  /** Number of current generations (open channels) of this pool, for tests and benchmarks. */
  get openChannels(): number {
    return this.current.size;
  }

  /** Number of calls started and not yet ended, for tests. */
  get openCallCount(): number {
    let count = 0;
    for (const generation of this.live) count += generation.calls.size;
    return count;
  }

  /** How many connections the handshake watchdog gave up on while this pool used them, for tests. */
  get handshakeTimeouts(): number {
    return this.retiredByWatchdog;
  }

  /** Wraps `options` so that every grpc-js client built from them takes its channel from this pool. */
  wrapOptions(options: ChannelOptions): ChannelOptions {
    return withChannelFactory(options, (target, credentials, rest) =>
      this.handle(target, credentials, rest),
    );
  }

  /**
   * Call before closing the etcd3 client that uses this pool: etcd3 then closes each of its service
   * clients, which must not retire the connection other modules share.
   */
  prepareClose(): void {
    this.closing = true;
  }

  /** Cancels every open call of this pool and leaves its connections (the module is shutting down). */
  close(): void {
    this.closed = true;
    for (const generation of [...this.live]) {
      for (const call of [...generation.calls]) {
        call.cancelWithStatus(status.CANCELLED, 'nest-etcd: the etcd client was closed');
      }
      generation.calls.clear();
      this.leave(generation);
    }
    this.current.clear();
  }

  private handle(
    target: string,
    credentials: ChannelCredentials,
    options: ChannelOptions,
  ): Channel {
    const clean: ChannelOptions = { ...options, 'grpc.use_local_subchannel_pool': 1 };
    delete clean.channelFactoryOverride;
    const generationFor = (): Generation => {
      let generation = this.current.get(target);
      if (!generation || generation.retired || generation.connection.retired) {
        generation = this.open(target, credentials, clean);
      }
      return generation;
    };
    // The generation this client used last: the one etcd3 means when it closes the client.
    let used = generationFor();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      // etcd3 judged the connection bad (a reset): no module sends new calls to it
      if (!this.closed && !this.closing) retireConnection(used.connection);
    };
    return routedChannel(used.connection.channel, {
      close: release,
      createCall: () => {
        if (released || this.closed) return undefined;
        // only a call opens a new generation (dials)
        used = generationFor();
        return this.trackingCreateCall(used);
      },
      // state queries answer from the current generation; a closed handle from its last one
      channel: () => {
        const current = this.current.get(target);
        return !released && current && !current.retired && !current.connection.retired
          ? current.connection.channel
          : used.connection.channel;
      },
    });
  }

  private open(
    target: string,
    credentials: ChannelCredentials,
    options: ChannelOptions,
  ): Generation {
    const previous = this.current.get(target);
    if (previous) this.leave(previous);
    const connection = this.closed
      ? newConnection(target, credentials, options, this.handshakeTimeoutMs, false)
      : (findConnection(target, credentials, options) ??
        newConnection(target, credentials, options, this.handshakeTimeoutMs, true));
    const generation: Generation = { pool: this, connection, calls: new Set(), retired: false };
    connection.users.add(generation);
    this.live.add(generation);
    if (this.closed) {
      this.leave(generation);
      return generation;
    }
    this.current.set(target, generation);
    return generation;
  }

  /** This pool sends no new call to `generation`; the connection closes once nobody uses it. */
  private leave(generation: Generation): void {
    generation.retired = true;
    if (this.current.get(generation.connection.target) === generation) {
      this.current.delete(generation.connection.target);
    }
    if (generation.calls.size > 0) return;
    this.live.delete(generation);
    const connection = generation.connection;
    connection.users.delete(generation);
    if (connection.users.size === 0) retireConnection(connection);
  }

  /** Counts a connection the watchdog gave up on (tests). @internal */
  countHandshakeTimeout(): void {
    this.retiredByWatchdog++;
  }

  /** `createCall` of the generation's channel, remembering each call until its status arrives. */
  private trackingCreateCall(generation: Generation): Channel['createCall'] {
    return (...args) => {
      const call = generation.connection.channel.createCall(...args);
      if (this.closed) {
        call.cancelWithStatus(status.CANCELLED, 'nest-etcd: the etcd client was closed');
        return call;
      }
      generation.calls.add(call);
      const ended = () => {
        generation.calls.delete(call);
        if (generation.retired && generation.calls.size === 0) this.leave(generation);
      };
      onCallEnded(call, ended);
      return call;
    };
  }
}

/** The current connection of the process for these settings, if any. */
function findConnection(
  target: string,
  credentials: ChannelCredentials,
  options: ChannelOptions,
): Connection | undefined {
  return currentConnections
    .get(target)
    ?.find(
      c =>
        !c.retired &&
        (c.credentials === credentials || c.credentials._equals(credentials)) &&
        sameOptions(c.options, options),
    );
}

function newConnection(
  target: string,
  credentials: ChannelCredentials,
  options: ChannelOptions,
  handshakeTimeoutMs: number,
  shared: boolean,
): Connection {
  const connection: Connection = {
    channel: new Channel(target, credentials, options),
    target,
    credentials,
    options,
    users: new Set(),
    retired: false,
    handshakeTimeoutMs,
  };
  if (shared) {
    const list = currentConnections.get(target) ?? [];
    list.push(connection);
    currentConnections.set(target, list);
    watchHandshake(connection, connection.channel.getConnectivityState(false));
  }
  return connection;
}

/** Retires a connection whose channel stays CONNECTING longer than the handshake bound. */
function watchHandshake(connection: Connection, state: connectivityState): void {
  if (connection.retired || state === connectivityState.SHUTDOWN) return;
  clearTimeout(connection.handshakeTimer);
  connection.handshakeTimer = undefined;
  if (state === connectivityState.CONNECTING) {
    connection.handshakeTimer = setTimeout(() => {
      if (connection.channel.getConnectivityState(false) !== connectivityState.CONNECTING) return;
      for (const user of connection.users) user.pool.countHandshakeTimeout();
      retireConnection(connection);
    }, connection.handshakeTimeoutMs);
    connection.handshakeTimer.unref();
  }
  connection.channel.watchConnectivityState(state, Infinity, () => {
    if (connection.retired) return;
    watchHandshake(connection, connection.channel.getConnectivityState(false));
  });
}

/**
 * No module sends new calls to `connection`: calls still waiting for a connection fail at once
 * (UNAVAILABLE); calls in progress go on until they end.
 */
function retireConnection(connection: Connection): void {
  clearTimeout(connection.handshakeTimer);
  connection.handshakeTimer = undefined;
  if (connection.retired) return;
  connection.retired = true;
  const list = currentConnections.get(connection.target);
  if (list) {
    const rest = list.filter(c => c !== connection);
    if (rest.length > 0) currentConnections.set(connection.target, rest);
    else currentConnections.delete(connection.target);
  }
  for (const user of connection.users) user.retired = true;
  connection.channel.close();
}

/** Same channel options (shallow: grpc-js options are numbers and strings). */
function sameOptions(a: ChannelOptions, b: ChannelOptions): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every(key => a[key] === b[key]);
}
