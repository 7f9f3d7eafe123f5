import { type Server, type Socket, connect, createServer } from 'node:net';
import { freePort } from './free-port.js';
import { within } from './jest-helpers.js';

interface Pending {
  due: number;
  data: Buffer;
}

/** One direction of a proxied connection: drops while blackholed, delays by latency, keeps order. */
class Pipe {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly proxy: TcpProxy,
    private readonly to: Socket,
    private readonly direction: 'toServer' | 'toClient',
  ) {}

  push(data: Buffer): void {
    if (this.proxy.isBlackholed) return;
    const latency = this.proxy.latencyOf(this.direction);
    if (latency <= 0 && this.queue.length === 0) {
      this.write(data);
      return;
    }
    const last = this.queue[this.queue.length - 1];
    this.queue.push({ due: Math.max(Date.now() + latency, last?.due ?? 0), data });
    this.schedule();
  }

  private write(data: Buffer): void {
    if (!this.to.destroyed && this.to.writable) this.to.write(data);
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    const head = this.queue[0]!;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        const now = Date.now();
        while (this.queue.length > 0 && this.queue[0]!.due <= now) {
          const item = this.queue.shift()!;
          if (!this.proxy.isBlackholed) this.write(item.data);
        }
        this.schedule();
      },
      Math.max(0, head.due - Date.now()),
    );
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
  }
}

interface Connection {
  client: Socket;
  upstream: Socket;
  pipes: Pipe[];
}

/**
 * A loopback TCP proxy between a client and etcd, for chaos tests: partition (`blackhole`),
 * connection resets, added latency, and `heal`.
 *
 * @example
 * const proxy = await TcpProxy.start({ host: '127.0.0.1', port: etcd.clientPort });
 * // point the client at proxy.endpoint
 * proxy.blackhole(); ... proxy.heal();
 * await proxy.close();
 */
export class TcpProxy {
  readonly port: number;
  readonly endpoint: string;

  /** @internal */
  isBlackholed = false;
  /** @internal */
  latencyMs = 0;
  /** @internal Extra delay of one direction only (see {@link setLatency}). */
  readonly oneWayMs = { toServer: 0, toClient: 0 };

  private readonly connections = new Set<Connection>();
  private closed = false;
  private accepted = 0;

  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
  ) {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('TcpProxy: no port');
    this.port = address.port;
    this.endpoint = `http://127.0.0.1:${this.port}`;
  }

  /**
   * Listens on a free 127.0.0.1 port below the ephemeral range (see {@link freePort}; retries
   * with another port when someone took it meanwhile) and forwards every connection to `target`.
   */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    for (let attempt = 1; ; attempt++) {
      const server = createServer({ noDelay: true });
      const port = await freePort();
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        server.close();
        if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 5) continue;
        throw e;
      }
      const proxy = new TcpProxy(server, target);
      server.on('connection', socket => proxy.accept(socket));
      return proxy;
    }
  }

  /** Number of client connections currently open through the proxy. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Number of client connections accepted since the proxy started (never decreases): wait for it
   * to grow to know that the proxy has taken YOUR connection, whatever other clients do.
   */
  get acceptedCount(): number {
    return this.accepted;
  }

  private accept(client: Socket): void {
    if (this.closed) {
      client.destroy();
      return;
    }
    this.accepted++;
    const upstream = connect({ host: this.target.host, port: this.target.port, noDelay: true });
    const toUpstream = new Pipe(this, upstream, 'toServer');
    const toClient = new Pipe(this, client, 'toClient');
    const conn: Connection = { client, upstream, pipes: [toUpstream, toClient] };
    this.connections.add(conn);
    client.on('data', (d: Buffer) => toUpstream.push(d));
    upstream.on('data', (d: Buffer) => toClient.push(d));
    const teardown = (): void => {
      if (!this.connections.delete(conn)) return;
      for (const p of conn.pipes) p.clear();
      // etcd gone / client gone: reset the other side, as a real broken path would.
      if (!client.destroyed) client.resetAndDestroy();
      if (!upstream.destroyed) upstream.resetAndDestroy();
    };
    client.on('error', teardown);
    upstream.on('error', teardown);
    client.on('close', teardown);
    upstream.on('close', teardown);
    // Half-close is forwarded only when traffic flows; a blackhole swallows FINs too.
    client.on('end', () => {
      if (!this.isBlackholed) upstream.end();
    });
    upstream.on('end', () => {
      if (!this.isBlackholed) client.end();
    });
  }

  /** Keeps every socket open but silently drops all bytes both ways (a network partition). */
  blackhole(): void {
    this.isBlackholed = true;
    for (const c of this.connections) for (const p of c.pipes) p.clear();
  }

  /** Destroys all current connections with a TCP RST; new connections are still accepted. */
  reset(): void {
    for (const c of [...this.connections]) {
      this.connections.delete(c);
      for (const p of c.pipes) p.clear();
      c.client.resetAndDestroy();
      c.upstream.resetAndDestroy();
    }
  }

  /**
   * Delays every chunk by `ms`; order is preserved. Both ways by default (each way by `ms`: a round
   * trip gains 2 × `ms`); `toServer` or `toClient` delays one direction only (e.g. answers that come
   * back late while requests arrive on time).
   */
  setLatency(ms: number, direction: 'both' | 'toServer' | 'toClient' = 'both'): void {
    if (direction === 'both') this.latencyMs = Math.max(0, ms);
    else this.oneWayMs[direction] = Math.max(0, ms);
  }

  /** @internal The delay of one direction now. */
  latencyOf(direction: 'toServer' | 'toClient'): number {
    return this.latencyMs + this.oneWayMs[direction];
  }

  /** Back to normal forwarding: no blackhole, no latency. Bytes dropped meanwhile stay lost. */
  heal(): void {
    this.isBlackholed = false;
    this.latencyMs = 0;
    this.oneWayMs.toServer = 0;
    this.oneWayMs.toClient = 0;
  }

  /** Closes the listener and resets every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reset();
    await within(
      new Promise<void>(resolve => this.server.close(() => resolve())),
      10_000,
      `TcpProxy on port ${this.port} closing its listener`,
    );
  }
}
