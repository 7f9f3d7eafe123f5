import { Client, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { createServer, type Server, type Socket } from 'node:net';
import { SharedChannelPool } from '../../lib/client/shared-channel-pool.js';
import { within, expectDuration } from '../support/index.js';

/**
 * The handshake watchdog of the shared channel pool, against a loopback TCP server that accepts
 * connections and never answers (a swallowed HTTP/2 handshake, as on a link that drops bytes).
 */
describe('SharedChannelPool: handshake watchdog', () => {
  let server: Server;
  const sockets = new Set<Socket>();
  let port = 0;

  beforeAll(async () => {
    server = createServer(socket => {
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
});
