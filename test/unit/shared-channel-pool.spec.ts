import { Client, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { createServer, type Server, type Socket } from 'node:net';
import { SharedChannelPool } from '../../lib/client/shared-channel-pool.js';
import { within, expectDuration, waitFor } from '../support/index.js';

/**
 * The shared channel pool against a loopback TCP server that accepts connections and never answers
 * (a swallowed HTTP/2 handshake, as on a link that drops bytes): the handshake watchdog, and one
 * connection shared by the modules of a process that connect alike.
 */
describe('SharedChannelPool (a server that swallows the handshake)', () => {
  let server: Server;
  const sockets = new Set<Socket>();
  /** Connections the server accepted so far. */
  let accepted = 0;
  let port = 0;

  beforeAll(async () => {
    server = createServer(socket => {
      accepted++;
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise(resolve => server.close(resolve));
  });

  it('fails a call waiting on a swallowed handshake at once, long before its deadline', async () => {
    const pool = new SharedChannelPool(300);
    const client = new Client(
      `127.0.0.1:${port}`,
      credentials.createInsecure(),
      pool.wrapOptions({}),
    );
    try {
      const started = Date.now();
      const failed = new Promise<ServiceError>(resolve => {
        client.makeUnaryRequest(
          '/test.Service/Method',
          (value: Buffer) => value,
          (value: Buffer) => value,
          Buffer.alloc(0),
          { deadline: Date.now() + 10_000 },
          err => resolve(err!),
        );
      });
      const err = await within(failed, 8_000, 'the call to fail');
      expect(err.code).toBe(status.UNAVAILABLE);
      expectDuration(
        Date.now() - started,
        6_000,
        'a call on a swallowed handshake failing (watchdog)',
      );
      expect(pool.handshakeTimeouts).toBe(1);
      expect(pool.openCallCount).toBe(0);
    } finally {
      client.close();
      pool.close();
    }
  });

  /** A unary call on `client` that never gets an answer from the swallowing server. */
  function pendingCall(client: Client): Promise<ServiceError> {
    return new Promise<ServiceError>(resolve => {
      client.makeUnaryRequest(
        '/test.Service/Method',
        (value: Buffer) => value,
        (value: Buffer) => value,
        Buffer.alloc(0),
        { deadline: Date.now() + 30_000 },
        err => resolve(err!),
      );
    });
  }

  it('two modules that connect alike share one connection; closing one cancels only its own calls', async () => {
    const a = new SharedChannelPool(60_000);
    const b = new SharedChannelPool(60_000);
    const target = `127.0.0.1:${port}`;
    const clientA = new Client(target, credentials.createInsecure(), a.wrapOptions({}));
    const clientB = new Client(target, credentials.createInsecure(), b.wrapOptions({}));
    const before = accepted;
    try {
      const callA = pendingCall(clientA);
      const callB = pendingCall(clientB);
      await waitFor(() => accepted - before >= 1, { timeout: 5_000, message: 'a connection' });
      expect(a.openCallCount).toBe(1);
      expect(b.openCallCount).toBe(1);

      a.close();
      expect((await within(callA, 5_000, "A's call to be cancelled")).code).toBe(status.CANCELLED);
      expect(b.openCallCount).toBe(1);

      b.close();
      expect((await within(callB, 5_000, "B's call to be cancelled")).code).toBe(status.CANCELLED);
      // both modules' calls went over one connection (closing it with the last module: e2e
      // shared-connection.spec.ts, against etcd)
      expect(accepted - before).toBe(1);
    } finally {
      clientA.close();
      clientB.close();
      a.close();
      b.close();
    }
  });

  it("etcd3's reset in one module retires the shared connection for every module", async () => {
    const a = new SharedChannelPool(60_000);
    const b = new SharedChannelPool(60_000);
    const target = `127.0.0.1:${port}`;
    const clientA = new Client(target, credentials.createInsecure(), a.wrapOptions({}));
    const clientB = new Client(target, credentials.createInsecure(), b.wrapOptions({}));
    const before = accepted;
    try {
      const callB = pendingCall(clientB);
      void pendingCall(clientA);
      await waitFor(() => accepted - before >= 1, { timeout: 5_000, message: 'a connection' });
      expect(accepted - before).toBe(1);
      // etcd3 closes its service clients when it judged the connection bad
      clientA.close();
      const failed = await within(callB, 5_000, "B's waiting call to fail once A reset");
      expect(failed.code).toBe(status.UNAVAILABLE);
      // B's next call dials a new connection
      const next = pendingCall(clientB);
      await waitFor(() => accepted - before === 2 && b.openCallCount === 1, {
        timeout: 5_000,
        message: "B's next call on a fresh connection",
      });
      b.close();
      expect((await within(next, 5_000, "B's call to be cancelled")).code).toBe(status.CANCELLED);
    } finally {
      clientA.close();
      clientB.close();
      a.close();
      b.close();
    }
  });
});
