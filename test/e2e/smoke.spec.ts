import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  EtcdConfigService,
  EtcdModule,
  EtcdRegistryService,
  InjectConfig,
  getConfigToken,
  type ConfigValue,
} from '../../lib/index.js';
import { EtcdConnection } from '../support/internals.js';
import { EtcdServer, nextValue } from '../support/index.js';

@Injectable()
class Greeter {
  readonly atConstruction: string;
  constructor(
    @InjectConfig('greeting', { default: 'Hello' }) readonly greeting: ConfigValue<string>,
  ) {
    this.atConstruction = greeting.value;
  }
}

describe('smoke', () => {
  let etcd: EtcdServer;
  beforeAll(async () => {
    etcd = await EtcdServer.start();
  });
  afterAll(async () => {
    await etcd.dispose();
  });

  it('boots, reads config, registers and discovers', async () => {
    await etcd.put('/config/greeting', 'Hi');
    @Module({
      imports: [
        EtcdModule.forRoot({
          hosts: etcd.endpoint,
          registry: { serviceName: 'smoke', port: 4000, ttl: 3, host: '127.0.0.1' },
        }),
      ],
      providers: [Greeter],
    })
    class AppModule {}
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const app = moduleRef.createNestApplication();
    await app.init();
    const greeter = app.get(Greeter);
    expect(greeter.atConstruction).toBe('Hi');
    const config = app.get(EtcdConfigService);
    await etcd.put('/config/greeting', 'Yo');
    await nextValue(greeter.greeting, v => v === 'Yo', 5000);
    expect(config.get('greeting')).toBe('Yo');
    const registry = app.get(EtcdRegistryService);
    await nextValue(registry.status$, s => s === 'registered', 10_000, 'registry registered');
    const list = await registry.getInstances('smoke');
    expect(list.map(i => i.port)).toEqual([4000]);
    // every gRPC service client (KV, Watch, Lease, Maintenance) shares one channel: one connection
    expect(app.get(EtcdConnection).channels.openChannels).toBe(1);
    const raw = await etcd.getPrefix('/services/smoke/');
    expect([...raw.values()].map(v => JSON.parse(v).host)).toEqual(['127.0.0.1']);
    await app.close();
    expect((await etcd.getPrefix('/services/smoke/')).size).toBe(0);
  });

  it('boots a discovery-only app (config: false) although another app injects config keys', async () => {
    @Module({ imports: [EtcdModule.forRoot({ hosts: etcd.endpoint, config: false })] })
    class DiscoveryOnlyModule {}
    const moduleRef = await Test.createTestingModule({ imports: [DiscoveryOnlyModule] }).compile();
    const app = moduleRef.createNestApplication();
    await app.init();
    try {
      const injected = app.get<ConfigValue<string>>(getConfigToken('greeting'));
      expect(injected.key).toBe('greeting');
      expect(() => injected.value).toThrow(/config center is disabled/);
      expect(() => app.get(EtcdConfigService).get('greeting')).not.toThrow();
    } finally {
      await app.close();
    }
  });
});
