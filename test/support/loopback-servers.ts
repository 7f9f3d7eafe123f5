import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';

/** A loopback server started by this kit; `close()` releases it and every socket it holds. */
export interface LoopbackServer {
  readonly port: number;
  /** TCP connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Options of {@link startEchoServer}. */
export interface EchoServerOptions {
  /** Answers `{ id, method, url, body }` as JSON. */
  id: string;
}

/**
 * An HTTP server on 127.0.0.1 that answers every request with
 * `{ id, method, url, body }` (JSON), and counts requests.
 */
export async function startEchoServer(
  options: EchoServerOptions,
): Promise<LoopbackServer & { readonly requests: number }> {
  let requests = 0;
  let connections = 0;
  const server = createHttpServer((req, res) => {
    requests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          id: options.id,
          method: req.method,
          url: req.url,
          body: Buffer.concat(chunks).toString('utf8'),
          header: req.headers['x-test'] ?? null,
        }),
      );
    });
  });
  server.on('connection', () => connections++);
  const port = await listen(server);
  return {
    port,
    get connections() {
      return connections;
    },
    get requests() {
      return requests;
    },
    close: () => closeHttp(server),
  };
}

/** A TCP server that accepts each connection and resets it at once (a crashing instance). */
export function startResettingServer(): Promise<LoopbackServer> {
  return startRawServer(socket => socket.resetAndDestroy());
}

/** A TCP server that accepts connections and never answers (a hung instance). */
export function startSilentServer(): Promise<LoopbackServer> {
  return startRawServer(() => undefined);
}

async function startRawServer(onSocket: (socket: Socket) => void): Promise<LoopbackServer> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer(socket => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  const port = await listen(server);
  return {
    port,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>(resolve => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function listen(server: HttpServer | TcpServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('loopback server: no port'));
        return;
      }
      resolve(address.port);
    });
  });
}

function closeHttp(server: HttpServer): Promise<void> {
  return new Promise(resolve => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/** The JSON value a registry key holds for an instance at `port` (the module's wire format). */
export function instanceJson(port: number, metadata: Record<string, unknown> = {}): string {
  return JSON.stringify({ host: '127.0.0.1', port, metadata, weight: 1 });
}
