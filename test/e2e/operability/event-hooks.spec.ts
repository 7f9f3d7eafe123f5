import 'reflect-metadata';
import { Test, type TestingModule } from '@nestjs/testing';
import { EtcdConfigService, EtcdModule, type ConfigRejection } from '../../../lib/index.js';
import { openConnection } from '../../support/informer-test-kit.js';
import type { InformerResync } from '../../support/internals.js';
import { EtcdServer, TcpProxy, nextValue } from '../../support/index.js';

// The two events metrics count that no other public stream shows: an informer's re-list after a
// broken watch, and a config value refused by parse/schema.
describe('operability hooks: informer resyncs$ and config rejections$', () => {
  let etcd: EtcdServer;

  beforeAll(async () => {
    etcd = await EtcdServer.start();
  });
  afterAll(async () => {
    await etcd?.dispose();
  });

  // A broken watch resumes from its revision + 1 (etcd replays what it missed): a plain restart is no re-list any
  // more. A re-list happens when the resume is answered "compacted": the connection is cut off
  // (through a proxy) while writes and a compaction past its revision happen.
  it('pool.resyncs$ reports the re-list after a watch fell behind a compaction', async () => {
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: etcd.clientPort });
    const connection = openConnection(proxy.endpoint);
    const seen: InformerResync[] = [];
    const sub = connection.informers.resyncs$.subscribe(r => seen.push(r));
    try {
      const handle = connection.informers.acquire('/hooks/');
      await handle.informer.ready();
      const resync = nextValue(connection.informers.resyncs$, r => r.prefix === '/hooks/', 30_000);
      proxy.blackhole();
      await nextValue(handle.informer.state$, s => !s.connected, 20_000);
      await etcd.put('/hooks/a', '1');
      await etcd.put('/hooks/b', '2');
      await etcd.compact();
      proxy.reset();
      proxy.heal();
      const event = await resync;
      expect(event.prefix).toBe('/hooks/');
      expect(event.revision).toBeGreaterThan(0);
      expect(seen.length).toBeGreaterThanOrEqual(1);
      expect(handle.informer.size).toBe(2);
      handle.release();
    } finally {
      sub.unsubscribe();
      await connection.onApplicationShutdown();
      await proxy.close();
    }
  }, 120_000); // above its longest waits (30 s, stretched to 45 s when loaded) plus the rest

  it('config rejections$ names the key, revision and reason of a value that fails parse', async () => {
    const moduleRef: TestingModule = await Test.createTestingModule({
      imports: [EtcdModule.forRoot({ hosts: etcd.endpoint, config: { prefix: '/hooks-config/' } })],
    }).compile();
    await moduleRef.init();
    try {
      const config = moduleRef.get(EtcdConfigService);
      const port = config.getConfigValue<number>('port', {
        default: 80,
        parse: raw => {
          const n = Number(raw);
          if (!Number.isInteger(n)) throw new Error('not an integer');
          return n;
        },
      });
      const rejected: Promise<ConfigRejection> = nextValue(
        config.rejections$,
        r => r.key === 'port',
      );
      await etcd.put('/hooks-config/port', 'eighty');
      const rejection = await rejected;
      expect(rejection.reason).toContain('not an integer');
      expect(rejection.revision).toBeGreaterThan(0);
      expect(port.value).toBe(80);
    } finally {
      await moduleRef.close();
    }
  });
});
