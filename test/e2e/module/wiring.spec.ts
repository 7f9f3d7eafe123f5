import 'reflect-metadata';
import {
  Injectable,
  Module,
  Optional,
  type DynamicModule,
  type INestApplication,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Etcd3 } from 'etcd3';
import {
  EtcdConfigService,
  EtcdModule,
  EtcdRegistryService,
  InjectEtcdClient,
} from '../../../lib/index.js';
import { EtcdConnection } from '../../support/internals.js';
import { EtcdConsumer, EtcdConsumerModule } from '../../fixtures/module/etcd-consumer.js';
import {
  EnvConfigModule,
  EnvConfigService,
  EnvEtcdOptionsFactory,
  EtcdOptionsModule,
  etcdOptionsFrom,
} from '../../fixtures/module/env-config.module.js';
import { EtcdServer, nextValue } from '../../support/index.js';

describe('EtcdModule wiring', () => {
  let etcd: EtcdServer;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    etcd = await EtcdServer.start();
    await etcd.put('/config/greeting', 'from-default-prefix');
    await etcd.put('/wiring/greeting', 'from-wiring-prefix');
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map(app => app.close()));
  });
  afterAll(async () => {
    await etcd?.dispose();
  });

  async function boot(...imports: Array<DynamicModule | (new () => unknown)>) {
    const moduleRef = await Test.createTestingModule({ imports }).compile();
    const app = moduleRef.createNestApplication();
    apps.push(app);
    await app.init();
    return app;
  }

  /** Checks the consumer got all three injectables, wired to the same live connection. */
  async function expectWorkingConsumer(app: INestApplication, greeting: string) {
    const consumer = app.get(EtcdConsumer);
    expect(consumer.config).toBeInstanceOf(EtcdConfigService);
    expect(consumer.registry).toBeInstanceOf(EtcdRegistryService);
    expect(consumer.client).toBeInstanceOf(Etcd3);
    expect(consumer.config).toBe(app.get(EtcdConfigService));
    expect(consumer.client).toBe(app.get(EtcdConnection).client);
    expect(consumer.config.get('greeting')).toBe(greeting);
    // the injected client is the real, connected root client
    expect(await consumer.client.get('/config/greeting').string()).toBe('from-default-prefix');
  }

  it('forRoot: config service, registry service and client are injectable anywhere', async () => {
    const app = await boot(EtcdModule.forRoot({ hosts: etcd.endpoint }), EtcdConsumerModule);
    await expectWorkingConsumer(app, 'from-default-prefix');
    await expect(app.get(EtcdRegistryService).getInstances('nobody')).resolves.toEqual([]);
  });

  it('forRootAsync with useFactory + inject reads options from another module', async () => {
    const calls: unknown[][] = [];
    const factory = (...args: [EnvConfigService]) => {
      calls.push(args);
      return etcdOptionsFrom(...args);
    };
    const app = await boot(
      EtcdModule.forRootAsync({
        imports: [
          EnvConfigModule.forRoot({ ETCD_HOSTS: etcd.endpoint, CONFIG_PREFIX: '/wiring/' }),
        ],
        inject: [EnvConfigService],
        useFactory: factory,
      }),
      EtcdConsumerModule,
    );
    expect(calls).toHaveLength(1);
    expect(calls[0]).toEqual([expect.any(EnvConfigService)]);
    await expectWorkingConsumer(app, 'from-wiring-prefix');
  });

  it('forRootAsync with an async useFactory', async () => {
    const app = await boot(
      EtcdModule.forRootAsync({
        useFactory: async () => {
          await Promise.resolve();
          return { hosts: [etcd.endpoint], config: { prefix: '/wiring/' } };
        },
      }),
      EtcdConsumerModule,
    );
    await expectWorkingConsumer(app, 'from-wiring-prefix');
  });

  it('forRootAsync with useClass builds its own options factory', async () => {
    const app = await boot(
      EtcdModule.forRootAsync({
        imports: [
          EnvConfigModule.forRoot({ ETCD_HOSTS: etcd.endpoint, CONFIG_PREFIX: '/wiring/' }),
        ],
        useClass: EnvEtcdOptionsFactory,
      }),
      EtcdConsumerModule,
    );
    await expectWorkingConsumer(app, 'from-wiring-prefix');
  });

  it('forRootAsync with useExisting reuses the factory another module exports', async () => {
    const app = await boot(
      EtcdModule.forRootAsync({
        imports: [EtcdOptionsModule.forRoot({ ETCD_HOSTS: etcd.endpoint })],
        useExisting: EnvEtcdOptionsFactory,
      }),
      EtcdConsumerModule,
    );
    expect(app.get(EnvEtcdOptionsFactory).created).toBe(1);
    await expectWorkingConsumer(app, 'from-default-prefix');
  });

  describe('isGlobal: false', () => {
    @Injectable()
    class OptionalConsumer {
      constructor(
        @Optional() readonly config?: EtcdConfigService,
        @Optional() @InjectEtcdClient() readonly client?: Etcd3,
      ) {}
    }
    @Module({ providers: [OptionalConsumer] })
    class NonImportingModule {}

    it('is not visible to a module that does not import it', async () => {
      const app = await boot(
        EtcdModule.forRoot({ hosts: etcd.endpoint, isGlobal: false }),
        NonImportingModule,
      );
      const consumer = app.get(OptionalConsumer);
      expect(consumer.config).toBeUndefined();
      expect(consumer.client).toBeUndefined();
    });

    it('is visible to the same module when global (the default)', async () => {
      const app = await boot(EtcdModule.forRoot({ hosts: etcd.endpoint }), NonImportingModule);
      const consumer = app.get(OptionalConsumer);
      expect(consumer.config).toBe(app.get(EtcdConfigService));
      expect(consumer.client).toBe(app.get(EtcdConnection).client);
    });

    it('is visible to a module that imports it, with one shared client', async () => {
      const etcdModule = EtcdModule.forRoot({ hosts: etcd.endpoint, isGlobal: false });

      @Injectable()
      class LocalConsumer {
        constructor(
          readonly config: EtcdConfigService,
          @InjectEtcdClient() readonly client: Etcd3,
        ) {}
      }
      @Module({ imports: [etcdModule], providers: [LocalConsumer] })
      class FeatureModule {}

      const app = await boot(etcdModule, FeatureModule);
      const consumer = app.get(LocalConsumer);
      expect(consumer.config.get('greeting')).toBe('from-default-prefix');
      expect(consumer.config).toBe(app.get(EtcdConfigService));
      expect(consumer.client).toBe(app.get(EtcdConnection).client);
    });
  });

  it('two apps in one process share nothing', async () => {
    const first = await boot(EtcdModule.forRoot({ hosts: etcd.endpoint }), EtcdConsumerModule);
    const second = await boot(
      EtcdModule.forRoot({ hosts: etcd.endpoint, config: { prefix: '/wiring/' } }),
      EtcdConsumerModule,
    );
    const a = first.get(EtcdConsumer);
    const b = second.get(EtcdConsumer);
    expect(a.config).not.toBe(b.config);
    expect(a.registry).not.toBe(b.registry);
    expect(a.client).not.toBe(b.client);
    expect(first.get(EtcdConnection)).not.toBe(second.get(EtcdConnection));
    expect(a.config.get('greeting')).toBe('from-default-prefix');
    expect(b.config.get('greeting')).toBe('from-wiring-prefix');

    // closing one leaves the other connected and live
    apps.splice(apps.indexOf(first), 1);
    await first.close();
    expect(first.get(EtcdConnection).isClosed).toBe(true);
    expect(second.get(EtcdConnection).isClosed).toBe(false);
    const updated = nextValue(b.config.watch('greeting'), v => v === 'still-live', 5000);
    await etcd.put('/wiring/greeting', 'still-live');
    await expect(updated).resolves.toBe('still-live');
    await etcd.put('/wiring/greeting', 'from-wiring-prefix');
  });
});
