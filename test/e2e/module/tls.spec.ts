import 'reflect-metadata';
import { type DynamicModule, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  EtcdConfigService,
  EtcdConnectionError,
  EtcdModule,
  EtcdRegistryService,
} from '../../../lib/index.js';
import {
  EtcdServer,
  disposeTlsMaterial,
  generateRogueCa,
  generateTlsMaterial,
  nextValue,
  type RogueCa,
  type TlsMaterial,
} from '../../support/index.js';
import { trackOpenHandles } from '../../fixtures/module/open-handles.js';

describe('etcd over TLS', () => {
  let tls: TlsMaterial;
  let rogue: RogueCa;
  let etcd: EtcdServer;
  let app: INestApplication | undefined;

  beforeAll(async () => {
    [tls, rogue] = await Promise.all([generateTlsMaterial(), generateRogueCa()]);
    etcd = await EtcdServer.start({ tls });
    await etcd.put('/config/greeting', 'hello-tls');
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  afterAll(async () => {
    await etcd?.dispose();
    await Promise.all([tls && disposeTlsMaterial(tls), rogue && disposeTlsMaterial(rogue)]);
  });

  async function boot(module: DynamicModule): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({ imports: [module] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    return app;
  }

  it('boots against an https endpoint with a CA and client certificate, reads and writes', async () => {
    expect(etcd.endpoint).toMatch(/^https:\/\//);
    const booted = await boot(
      EtcdModule.forRoot({
        hosts: etcd.endpoint,
        credentials: {
          rootCertificate: tls.ca,
          privateKey: tls.clientKey,
          certChain: tls.clientCert,
        },
        registry: { serviceName: 'tls-svc', host: '127.0.0.1', port: 4100, ttl: 5 },
      }),
    );
    const config = booted.get(EtcdConfigService);
    expect(config.get('greeting')).toBe('hello-tls');

    await config.set('written-over-tls', 42);
    expect(await etcd.get('/config/written-over-tls')).toBe('42');

    // the watch works over TLS too
    const seen = nextValue(config.watch('greeting'), v => v === 'changed-by-etcdctl', 5000);
    await etcd.put('/config/greeting', 'changed-by-etcdctl');
    await expect(seen).resolves.toBe('changed-by-etcdctl');

    const registry = booted.get(EtcdRegistryService);
    await nextValue(registry.status$, s => s === 'registered', 5000);
    expect((await registry.getInstances('tls-svc')).map(i => i.port)).toEqual([4100]);
  });

  it('refuses a server certificate from an unknown CA with an EtcdConnectionError about the certificate', async () => {
    const handles = trackOpenHandles();
    const compiled = Test.createTestingModule({
      imports: [
        EtcdModule.forRoot({
          hosts: etcd.endpoint,
          connectTimeout: 2000,
          credentials: {
            rootCertificate: rogue.ca,
            privateKey: tls.clientKey,
            certChain: tls.clientCert,
          },
        }),
      ],
    }).compile();
    const error = await compiled.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(EtcdConnectionError);
    const { message, tls: tlsFailure } = error as EtcdConnectionError;
    expect(tlsFailure).toBe(true); // classified by the connection, not re-read by the error
    expect(message).toContain(etcd.endpoint);
    expect(message).toMatch(/certificate/i);
    expect(message).toMatch(/rootCertificate|CA/);
    await handles.settled();
  });

  it('fails with a hint at https:// when an http:// client talks to the https endpoint', async () => {
    const compiled = Test.createTestingModule({
      imports: [
        EtcdModule.forRoot({
          hosts: etcd.endpoint.replace('https://', 'http://'),
          connectTimeout: 1500,
        }),
      ],
    }).compile();
    await expect(compiled).rejects.toBeInstanceOf(EtcdConnectionError);
    await expect(compiled).rejects.toThrow(/speaks TLS: use https:\/\//);
  });
});
