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

/** One real gRPC channel shared by every service client (KV, Watch, Lease, ...) of one etcd host. */
interface Generation {
  readonly channel: Channel;
  /** Calls started and not yet ended. */
  readonly calls: Set<Call>;
  /** No new call goes to this generation; its channel is closed. */
  retired: boolean;
  /** Running while the channel is connecting: fires when the handshake takes too long. */
  handshakeTimer?: NodeJS.Timeout;
}

/** Default bound of a connection's handshake (TCP + TLS + HTTP/2 settings), in ms. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 2_000;

/**
 * Gives the etcd3 client ONE TCP connection per etcd host instead of one per gRPC service.
 *
 * etcd3 builds a separate grpc-js client for each etcd service it uses and, after any recoverable
 * error, closes them all ("reset") and builds new ones. grpc-js lets a client take its channel from a
 * factory (`channelFactoryOverride`), so every client of a host gets a handle onto the pool, and
 * each call goes to the host's **current generation**: one real channel, with its own subchannel
 * pool so that it dials afresh rather than reusing a stuck connection.
 *
 * - When etcd3 closes a client (it judged the connection bad), the generation that client last
 *   used is **retired**: its channel closes (calls still waiting for a connection fail at once,
 *   calls in progress run to their end) and the next call opens a new generation.
 * - **Handshake watchdog**: grpc-js puts no bound on a connection whose HTTP/2 handshake was
 *   swallowed (a link that accepts TCP but drops bytes, e.g. one that flaps): calls would wait for
 *   it until their own deadline. A generation still connecting after `handshakeTimeoutMs` is
 *   retired, so the calls waiting on it fail fast and the next ones dial again.
 * - Closing the pool is **hard**: every call still open (the watch stream waiting for its cancel
 *   answer, a keep-alive stream) is cancelled, so no connection outlives the module, even when etcd
 *   is blackholed and would otherwise keep it until gRPC's keep-alive gave up.
 *
 * Options are per module: two modules (two apps in one process) never share a connection.
 * @internal
 */
export class SharedChannelPool {
  private readonly current = new Map<string, Generation>();
  private readonly live = new Set<Generation>();
  private closed = false;
  private retiredByWatchdog = 0;

  constructor(private readonly handshakeTimeoutMs = DEFAULT_HANDSHAKE_TIMEOUT_MS) {}

  /** Number of current generations (open channels), for tests and benchmarks. */
  get openChannels(): number {
    return this.current.size;
  }

  /** Number of calls started and not yet ended, for tests. */
  get openCallCount(): number {
    let count = 0;
    for (const generation of this.live) count += generation.calls.size;
    return count;
  }

  /** How many connections the handshake watchdog gave up on, for tests. */
  get handshakeTimeouts(): number {
    return this.retiredByWatchdog;
  }

  /** Wraps `options` so that every grpc-js client built from them takes its channel from this pool. */
  wrapOptions(options: ChannelOptions): ChannelOptions {
    return withChannelFactory(options, (target, credentials, rest) =>
      this.handle(target, credentials, rest),
    );
  }

  /** Cancels every open call and closes every channel (the module is shutting down). */
  close(): void {
    this.closed = true;
    for (const generation of [...this.live]) {
      for (const call of [...generation.calls]) {
        call.cancelWithStatus(status.CANCELLED, 'nest-etcd: the etcd client was closed');
      }
      generation.calls.clear();
      this.retire(generation);
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
      if (!generation || generation.retired) {
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
      this.retire(used);
    };
    return routedChannel(used.channel, {
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
        return !released && current && !current.retired ? current.channel : used.channel;
      },
    });
  }

  private open(
    target: string,
    credentials: ChannelCredentials,
    options: ChannelOptions,
  ): Generation {
    const generation: Generation = {
      channel: new Channel(target, credentials, options),
      calls: new Set(),
      retired: false,
    };
    this.live.add(generation);
    if (this.closed) {
      this.retire(generation);
      return generation;
    }
    this.current.set(target, generation);
    this.watchHandshake(generation, generation.channel.getConnectivityState(false));
    return generation;
  }

  /** Retires a generation whose channel stays CONNECTING longer than the handshake bound. */
  private watchHandshake(generation: Generation, state: connectivityState): void {
    if (generation.retired || state === connectivityState.SHUTDOWN) return;
    clearTimeout(generation.handshakeTimer);
    generation.handshakeTimer = undefined;
    if (state === connectivityState.CONNECTING) {
      generation.handshakeTimer = setTimeout(() => {
        if (generation.channel.getConnectivityState(false) !== connectivityState.CONNECTING) return;
        this.retiredByWatchdog++;
        this.retire(generation);
      }, this.handshakeTimeoutMs);
      generation.handshakeTimer.unref();
    }
    generation.channel.watchConnectivityState(state, Infinity, () => {
      if (generation.retired) return;
      this.watchHandshake(generation, generation.channel.getConnectivityState(false));
    });
  }

  private retire(generation: Generation): void {
    clearTimeout(generation.handshakeTimer);
    generation.handshakeTimer = undefined;
    for (const [target, current] of this.current) {
      if (current === generation) this.current.delete(target);
    }
    if (generation.retired) return;
    generation.retired = true;
    // Calls still waiting for a connection fail at once (UNAVAILABLE); calls in progress go on.
    generation.channel.close();
    if (generation.calls.size === 0) this.live.delete(generation);
  }

  /** `createCall` of the generation's channel, remembering each call until its status arrives. */
  private trackingCreateCall(generation: Generation): Channel['createCall'] {
    return (...args) => {
      const call = generation.channel.createCall(...args);
      if (this.closed) {
        call.cancelWithStatus(status.CANCELLED, 'nest-etcd: the etcd client was closed');
        return call;
      }
      generation.calls.add(call);
      const ended = () => {
        generation.calls.delete(call);
        if (generation.retired && generation.calls.size === 0) this.live.delete(generation);
      };
      onCallEnded(call, ended);
      return call;
    };
  }
}
