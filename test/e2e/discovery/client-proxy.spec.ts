import 'reflect-metadata';
import { Controller, type INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type ClientProxy, EventPattern, MessagePattern, Transport } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { EtcdModule, EtcdRegistryService } from '../../../lib/index.js';
import { EtcdClientProxy } from '../../../lib/microservices.js';
import { freePort, nextValue, waitFor, within } from '../../support/index.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';
import {
  startRegisteredMicroservice,
  startRegistryClient,
} from '../../support/microservice-apps.js';
import { joinedIds, tally } from '../../support/registry-test-app.js';

// Real etcd; real Nest TCP microservices on loopback, each registered with its transport port.
describe('EtcdClientProxy: Nest microservices over TCP through the registry', () => {
  const suite = useEtcdSuite();
  const { apps: contexts } = suite;
  /** Events the microservices received, as `<instanceId>:<n>`. */
  const received: string[] = [];

  /** A microservice answering `whoami` and `sum`, registered as `calc/<id>` with its TCP port. */
  async function startCalc(id: string): Promise<INestMicroservice> {
    const port = await freePort();
    @Controller()
    class CalcController {
      @MessagePattern({ cmd: 'whoami' })
      whoami(): string {
        return id;
      }
      @EventPattern('recorded')
      record(data: { n: number }): void {
        received.push(`${id}:${data.n}`);
      }
      @MessagePattern({ cmd: 'sum' })
      sum(values: number[]): number {
        return values.reduce((a, b) => a + b, 0);
      }
    }
    return startRegisteredMicroservice({
      hosts: suite.etcd.endpoint,
      serviceName: 'calc',
      instanceId: id,
      port,
      controllers: [CalcController],
      transport: { transport: Transport.TCP, options: { host: '127.0.0.1', port } },
      apps: contexts,
    });
  }

  /** The caller: ClientsModule with EtcdClientProxy as customClass, injected by name. */
  async function startCaller(): Promise<{ client: ClientProxy; registry: EtcdRegistryService }> {
    const app = await startRegistryClient({
      hosts: suite.etcd.endpoint,
      name: 'CALC',
      client: registry => ({
        customClass: EtcdClientProxy,
        options: { registry, serviceName: 'calc' },
      }),
      apps: contexts,
    });
    return { client: app.get<ClientProxy>('CALC'), registry: app.get(EtcdRegistryService) };
  }

  const whoami = (client: ClientProxy) =>
    within(
      firstValueFrom(client.send<string, object>({ cmd: 'whoami' }, {})),
      10_000,
      'whoami answer',
    );

  const answers = (client: ClientProxy, times: number) => tally(() => whoami(client), times);

  it('send() reaches every live instance, balanced, and follows the registry (never a removed instance)', async () => {
    const calcs = await Promise.all(['calc-1', 'calc-2', 'calc-3'].map(startCalc));
    const { client, registry } = await startCaller();
    const instances$ = registry.instances$('calc');
    await nextValue(instances$, list => joinedIds(list) === 'calc-1,calc-2,calc-3', 10_000);

    expect(await answers(client, 9)).toEqual({ 'calc-1': 3, 'calc-2': 3, 'calc-3': 3 });
    expect(
      await within(
        firstValueFrom(client.send<number, number[]>({ cmd: 'sum' }, [1, 2, 3])),
        10_000,
        'sum answer',
      ),
    ).toBe(6);

    // calc-2 leaves the registry while its server still answers: it gets no message any more
    await calcs[1]!.get(EtcdRegistryService).deregister();
    await nextValue(instances$, list => joinedIds(list) === 'calc-1,calc-3', 10_000);
    expect(await answers(client, 8)).toEqual({ 'calc-1': 4, 'calc-3': 4 });

    // a new instance joins: it takes its share
    await startCalc('calc-4');
    await nextValue(instances$, list => joinedIds(list) === 'calc-1,calc-3,calc-4', 10_000);
    expect(await answers(client, 9)).toEqual({ 'calc-1': 3, 'calc-3': 3, 'calc-4': 3 });

    // an instance stops for good (its transport closes first, then its key goes): no message lost
    await calcs[0]!.close();
    const afterStop = await answers(client, 6);
    expect(Object.values(afterStop).reduce((a, b) => a + b, 0)).toBe(6);
    await nextValue(instances$, list => joinedIds(list) === 'calc-3,calc-4', 10_000);
    expect(await answers(client, 4)).toEqual({ 'calc-3': 2, 'calc-4': 2 });
  });

  it('emit() delivers events to a live instance; no instance at all is a clear error', async () => {
    const { client, registry } = await startCaller();
    await expect(whoami(client)).rejects.toThrow(/no live instance of service "calc"/);
    await startCalc('calc-solo');
    await nextValue(registry.instances$('calc'), list => joinedIds(list) === 'calc-solo', 10_000);
    await expect(whoami(client)).resolves.toBe('calc-solo');
    client.emit('recorded', { n: 1 });
    client.emit('recorded', { n: 2 });
    await waitFor(() => received.length === 2, { message: 'both events received' });
    expect(received.sort()).toEqual(['calc-solo:1', 'calc-solo:2']);
  });

  it('a hybrid app (HTTP + TCP microservice) registers its transport port and receives messages', async () => {
    const port = await freePort();
    @Controller()
    class HybridController {
      @MessagePattern({ cmd: 'whoami' })
      whoami(): string {
        return 'hybrid-1';
      }
    }
    @Module({
      imports: [
        EtcdModule.forRoot({
          hosts: suite.etcd.endpoint,
          config: false,
          // the port callers of this service use: the microservice's, not the HTTP one
          registry: { serviceName: 'calc', instanceId: 'hybrid-1', host: '127.0.0.1', port },
        }),
      ],
      controllers: [HybridController],
    })
    class HybridModule {}
    const app = await NestFactory.create(HybridModule, { logger: ['error'] });
    contexts.push(app);
    app.connectMicroservice({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
    await app.startAllMicroservices();
    await app.listen(0, '127.0.0.1');
    const { client, registry } = await startCaller();
    const [listed] = await nextValue(
      registry.instances$('calc'),
      list => joinedIds(list) === 'hybrid-1',
      10_000,
    );
    expect(listed?.port).toBe(port);
    expect(await answers(client, 3)).toEqual({ 'hybrid-1': 3 });
  });

  it('a bad customClass options object is a readable error at startup', () => {
    expect(() => new EtcdClientProxy({} as never)).toThrow(
      /options\.registry must be the app's EtcdRegistryService/,
    );
  });
});
