import 'reflect-metadata';
import { type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  EtcdConfigService,
  EtcdModule,
  EtcdRegistryService,
  type EtcdModuleOptions,
} from '../../../lib/index.js';
import { EtcdServer, nextValue, waitFor } from '../../support/index.js';
import { establishedConnections } from '../../support/process-utils.js';
import { trackOpenHandles } from '../../fixtures/module/open-handles.js';

async function boot(options: EtcdModuleOptions): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [EtcdModule.forRoot(options)],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

/**
 * etcd's memory for a fleet: N Nest apps in one process that connect alike share ONE TCP
 * connection to an etcd host, as raw etcd3 clients do through grpc-js's subchannel pool; etcd keeps
 * a server transport (buffers, goroutines) per connection. Each app still owns its calls: closing
 * one cancels only its own, and the connection closes with the last app using it.
 */
describe('one etcd connection per process and host, shared by the apps that connect alike', () => {
  let etcd: EtcdServer;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    etcd = await EtcdServer.start();
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await etcd?.dispose();
  });

  it('three registered apps use one connection; closing two leaves the third working; the last close closes it', async () => {
    const handles = trackOpenHandles();
    expect(establishedConnections(etcd.clientPort)).toBe(0);
    for (const id of ['a', 'b', 'c']) {
      const app = await boot({
        hosts: etcd.endpoint,
        registry: { serviceName: 'shared', instanceId: id, host: '127.0.0.1', port: 4400, ttl: 5 },
      });
      apps.push(app);
      await nextValue(app.get(EtcdRegistryService).status$, s => s === 'registered', 10_000);
    }
    // three apps, each with a watch stream and a keep-alive stream: one TCP connection
    expect(establishedConnections(etcd.clientPort)).toBe(1);
    // a module with other connection settings does not share it
    const other = await boot({ hosts: etcd.endpoint, keepaliveInterval: 29_000 });
    await other.get(EtcdConfigService).set('other', 'yes');
    expect(establishedConnections(etcd.clientPort)).toBe(2);
    await other.close();
    await waitFor(() => establishedConnections(etcd.clientPort) === 1, {
      timeout: 5_000,
      message: 'the connection of the app with other settings to close with it',
    });

    const [first, second, third] = apps.splice(0, 3) as [
      INestApplication,
      INestApplication,
      INestApplication,
    ];
    await first.close();
    await second.close();
    // their registrations are gone, the third app's stays and its streams still work
    expect([...(await etcd.getPrefix('/services/shared/')).keys()]).toEqual(['/services/shared/c']);
    const config = third.get(EtcdConfigService);
    const seen = config.watch('after').subscribe();
    await config.set('after', 'written');
    await waitFor(() => config.get('after') === 'written', {
      timeout: 10_000,
      message: 'the third app to write and see its own write after two apps closed',
    });
    seen.unsubscribe();
    expect(third.get(EtcdRegistryService).status).toBe('registered');
    expect(establishedConnections(etcd.clientPort)).toBe(1);

    await third.close();
    await waitFor(() => establishedConnections(etcd.clientPort) === 0, {
      timeout: 5_000,
      message: 'the shared connection to close with the last app',
    });
    await handles.settled();
  }, 60_000);
});
