import 'reflect-metadata';
import { Test, type TestingModule } from '@nestjs/testing';
import { EtcdConfigService, EtcdModule, type ConfigRejection } from '../../../lib/index.js';
import { openConnection } from '../../support/informer-test-kit.js';
import type { InformerResync } from '../../support/internals.js';
import { EtcdServer, nextValue } from '../../support/index.js';

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

  it('pool.resyncs$ reports the re-list after etcd restarts', async () => {
    const connection = openConnection(etcd.endpoint);
    try {
      const handle = connection.informers.acquire('/hooks/');
      await handle.informer.ready();
      const seen: InformerResync[] = [];
      const sub = connection.informers.resyncs$.subscribe(r => seen.push(r));
      const resync = nextValue(connection.informers.resyncs$, r => r.prefix === '/hooks/', 20_000);
      await etcd.stop();
      await etcd.restart();
      const event = await resync;
      expect(event.prefix).toBe('/hooks/');
      expect(event.revision).toBeGreaterThan(0);
      expect(seen.length).toBeGreaterThanOrEqual(1);
      sub.unsubscribe();
      handle.release();
    } finally {
      await connection.onApplicationShutdown();
    }
  });

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
