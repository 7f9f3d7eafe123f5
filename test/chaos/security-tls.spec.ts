import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { EtcdConfigService, EtcdConnectionError, EtcdRegistryService } from '../../lib/index.js';
import {
  type RogueCa,
  type TlsMaterial,
  disposeTlsMaterial,
  generateRogueCa,
  generateTlsMaterial,
  nextValue,
  waitFor,
  expectDuration,
} from '../support/index.js';
import { FAST_TIMINGS, bootApp, closeAll, useChaosSuite } from '../support/chaos-helpers.js';

/** TLS with client certificates works; a server certificate from an unknown CA is refused clearly. */
describe('chaos: TLS', () => {
  let tls: TlsMaterial;
  let rogue: RogueCa;
  const suite = useChaosSuite({
    etcd: async () => {
      [tls, rogue] = await Promise.all([generateTlsMaterial(), generateRogueCa()]);
      return { tls };
    },
  });

  beforeAll(async () => {
    await suite.etcd.put('/config/tls/greeting', 'over tls');
  });
  afterAll(async () => {
    await disposeTlsMaterial(tls);
    await disposeTlsMaterial(rogue);
  });

  it('mutual TLS: reads config, watches, registers', async () => {
    let app: INestApplication | undefined;
    try {
      app = await bootApp({
        hosts: suite.etcd.endpoint,
        ...FAST_TIMINGS,
        credentials: {
          rootCertificate: tls.ca,
          privateKey: tls.clientKey,
          certChain: tls.clientCert,
        },
        registry: { serviceName: 'tls', instanceId: 't-1', host: '127.0.0.1', port: 5400, ttl: 3 },
      });
      const config = app.get(EtcdConfigService);
      expect(config.get('tls/greeting')).toBe('over tls');
      await suite.etcd.put('/config/tls/greeting', 'still tls');
      await waitFor(() => config.get('tls/greeting') === 'still tls');
      await nextValue(app.get(EtcdRegistryService).status$, s => s === 'registered', 10_000);
      expect(await suite.etcd.get('/services/tls/t-1')).toBeDefined();
    } finally {
      await closeAll([app]);
    }
  });

  it('a server certificate from an unknown CA is refused with a clear EtcdConnectionError', async () => {
    const started = Date.now();
    const error = await bootApp({
      hosts: suite.etcd.endpoint,
      ...FAST_TIMINGS,
      connectTimeout: 2000,
      credentials: {
        rootCertificate: rogue.ca,
        privateKey: rogue.clientKey,
        certChain: rogue.clientCert,
      },
    }).then(
      async app => {
        await app.close();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(EtcdConnectionError);
    const message = (error as Error).message;
    expect(message).toContain(suite.etcd.endpoint.replace('https://', ''));
    expect(message).toMatch(/certificate|self[- ]signed|TLS|SSL|handshake/i);
    expectDuration(
      Date.now() - started,
      20_000,
      'boot refused on an untrusted certificate (not a hang)',
    );
  });

  it('no client certificate against a server that requires one is refused too', async () => {
    await expect(
      bootApp({
        hosts: suite.etcd.endpoint,
        ...FAST_TIMINGS,
        connectTimeout: 2000,
        credentials: { rootCertificate: tls.ca },
      }),
    ).rejects.toBeInstanceOf(EtcdConnectionError);
  });
});
