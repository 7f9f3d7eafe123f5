import { Channel, status, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { withChannelFactory } from './etcd3-internals.adapter.js';

/** A call made on a channel (grpc-js's low-level call interface). */
type Call = ReturnType<Channel['createCall']>;
type CallListener = Parameters<Call['start']>[1];

/** One real gRPC channel shared by every service client (KV, Watch, Lease, ...) of one etcd host. */
interface Generation {
  readonly channel: Channel;
  /** Client handles not yet closed. */
  refs: number;
  /** No new client gets this generation; it closes when its last client does. */
  retired: boolean;
}

/**
 * Gives the etcd3 client ONE TCP connection per etcd host instead of one per gRPC service.
 *
 * etcd3 builds a separate grpc-js client for each etcd service it uses and, after any recoverable
 * error, closes them all ("reset") and builds new ones. grpc-js lets a client take its channel from a
 * factory (`channelFactoryOverride`), so every client of a host gets a handle on one shared channel:
 *
 * - a **generation** is one real channel (with its own subchannel pool, so it dials afresh rather
 *   than reusing a connection stuck in a swallowed handshake);
 * - closing any handle means etcd3 judged the connection bad: the generation is **retired**, new
 *   clients get a fresh one, and the old channel really closes once its last handle is closed.
 *
 * Options are per module: two modules (two apps in one process) never share a connection.
 *
 * Closing the pool is **hard**: every call still open (the watch stream waiting for its cancel
 * answer, a keep-alive stream) is cancelled, so no connection outlives the module, even when etcd
 * is blackholed and would otherwise keep it until gRPC's keep-alive gave up.
 * @internal
 */
export class SharedChannelPool {
  private readonly current = new Map<string, Generation>();
  private readonly openCalls = new Set<Call>();
  private closed = false;

  /** Number of live generations (open channels), for tests and benchmarks. */
  get openChannels(): number {
    return this.current.size;
  }

  /** Wraps `options` so that every grpc-js client built from them takes its channel from this pool. */
  wrapOptions(options: ChannelOptions): ChannelOptions {
    return withChannelFactory(options, (target, credentials, rest) =>
      this.handle(target, credentials, rest),
    );
  }

  /** Number of calls started and not yet ended, for tests. */
  get openCallCount(): number {
    return this.openCalls.size;
  }

  /** Cancels every open call and closes every channel (the module is shutting down). */
  close(): void {
    this.closed = true;
    for (const call of [...this.openCalls]) {
      call.cancelWithStatus(status.CANCELLED, 'nest-etcd: the etcd client was closed');
    }
    this.openCalls.clear();
    for (const generation of this.current.values()) {
      generation.retired = true;
      if (generation.refs === 0) generation.channel.close();
    }
    this.current.clear();
  }

  private handle(
    target: string,
    credentials: ChannelCredentials,
    options: ChannelOptions,
  ): Channel {
    let generation = this.current.get(target);
    if (!generation || generation.retired) {
      const clean: ChannelOptions = { ...options, 'grpc.use_local_subchannel_pool': 1 };
      delete clean.channelFactoryOverride;
      generation = { channel: new Channel(target, credentials, clean), refs: 0, retired: false };
      if (!this.closed) this.current.set(target, generation);
    }
    generation.refs++;
    return this.handleFor(target, generation);
  }

  private handleFor(target: string, generation: Generation): Channel {
    const real = generation.channel;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      generation.refs--;
      if (!generation.retired) {
        generation.retired = true;
        if (this.current.get(target) === generation) this.current.delete(target);
      }
      if (generation.refs <= 0) real.close();
    };
    return new Proxy(real, {
      get: (channel, property) => {
        if (property === 'close') return release;
        if (property === 'createCall') return this.trackingCreateCall(channel);
        const value: unknown = Reflect.get(channel, property);
        return typeof value === 'function'
          ? (value as (...args: unknown[]) => unknown).bind(channel)
          : value;
      },
    });
  }

  /** `createCall` of `channel`, remembering each call until its status arrives. */
  private trackingCreateCall(channel: Channel): Channel['createCall'] {
    return (...args) => {
      const call = channel.createCall(...args);
      if (this.closed) {
        call.cancelWithStatus(status.CANCELLED, 'nest-etcd: the etcd client was closed');
        return call;
      }
      const calls = this.openCalls;
      calls.add(call);
      const start = call.start.bind(call);
      call.start = (metadata, listener: CallListener) =>
        start(
          metadata,
          new Proxy(listener, {
            get: (target, property) => {
              const value: unknown = Reflect.get(target, property);
              if (property !== 'onReceiveStatus' || typeof value !== 'function') {
                return typeof value === 'function'
                  ? (value as (...a: unknown[]) => unknown).bind(target)
                  : value;
              }
              return (...statusArgs: unknown[]) => {
                calls.delete(call);
                return (value as (...a: unknown[]) => unknown).apply(target, statusArgs);
              };
            },
          }),
        );
      return call;
    };
  }
}
