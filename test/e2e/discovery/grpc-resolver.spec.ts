import 'reflect-metadata';
import { Controller, type INestMicroservice } from '@nestjs/common';
import { type ClientGrpc, GrpcMethod, Transport } from '@nestjs/microservices';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, type Observable } from 'rxjs';
import { EtcdRegistryService } from '../../../lib/index.js';
import { registerEtcdResolver } from '../../../lib/grpc.js';
import { freePort, nextValue, waitFor, within } from '../../support/index.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';
import {
  startRegisteredMicroservice,
  startRegistryClient,
} from '../../support/microservice-apps.js';
import { joinedIds, tally } from '../../support/registry-test-app.js';

const PROTO = fileURLToPath(new URL('../../fixtures/discovery/calc.proto', import.meta.url));

interface CalcService {
  whoAmI(request: Record<string, never>): Observable<{ id: string }>;
}

// Real etcd; real Nest gRPC servers on loopback registered with their port; a Nest gRPC client
// whose target is etcd:///calc-grpc.
describe('registerEtcdResolver: grpc-js etcd:/// targets', () => {
  const suite = useEtcdSuite();
  const { apps: contexts } = suite;

  async function startServer(id: string): Promise<INestMicroservice> {
    const port = await freePort();
    @Controller()
    class CalcController {
      @GrpcMethod('Calc', 'WhoAmI')
      whoAmI(): { id: string } {
        return { id };
      }
    }
    return startRegisteredMicroservice({
      hosts: suite.etcd.endpoint,
      serviceName: 'calc-grpc',
      instanceId: id,
      port,
      controllers: [CalcController],
      transport: {
        transport: Transport.GRPC,
        options: { url: `127.0.0.1:${port}`, package: 'calc', protoPath: PROTO },
      },
      apps: contexts,
    });
  }

  async function startClient(): Promise<{ calc: CalcService; registry: EtcdRegistryService }> {
    const app = await startRegistryClient({
      hosts: suite.etcd.endpoint,
      name: 'CALC',
      client: registry => {
        registerEtcdResolver(registry);
        return {
          transport: Transport.GRPC,
          options: {
            url: 'etcd:///calc-grpc',
            package: 'calc',
            protoPath: PROTO,
            channelOptions: {
              'grpc.service_config': JSON.stringify({
                loadBalancingConfig: [{ round_robin: {} }],
              }),
            },
          },
        };
      },
      apps: contexts,
    });
    await app.init();
    const calc = app.get<ClientGrpc>('CALC').getService<CalcService>('Calc');
    return { calc, registry: app.get(EtcdRegistryService) };
  }

  const call = async (calc: CalcService) =>
    (await within(firstValueFrom(calc.whoAmI({})), 10_000, 'gRPC whoAmI answer')).id;

  const answers = (calc: CalcService, times: number) => tally(() => call(calc), times);

  it('round_robin over every live instance; follows the watch; a removed instance gets no call', async () => {
    const servers = await Promise.all(['g-1', 'g-2', 'g-3'].map(startServer));
    const { calc, registry } = await startClient();
    const instances$ = registry.instances$('calc-grpc');
    await nextValue(instances$, list => joinedIds(list) === 'g-1,g-2,g-3', 10_000);

    // every subchannel becomes ready in its own time: wait until all three answered
    const seen = new Set<string>();
    await waitFor(
      async () => {
        seen.add(await call(calc));
        return seen.size === 3;
      },
      { timeout: 10_000, message: 'all three instances answering through etcd:///calc-grpc' },
    );
    // then calls rotate over all of them
    const spread = await answers(calc, 30);
    expect(Object.keys(spread).sort()).toEqual(['g-1', 'g-2', 'g-3']);
    for (const count of Object.values(spread)) expect(count).toBeGreaterThanOrEqual(8);

    // g-2 deregisters (its server still runs): once its key is gone it receives no call
    await servers[1]!.get(EtcdRegistryService).deregister();
    await nextValue(instances$, list => joinedIds(list) === 'g-1,g-3', 10_000);
    // the resolver hands grpc-js the new list on the next tick
    // (with g-2 still in the rotation, 3 calls in a row always reach it)
    await waitFor(async () => !Object.keys(await answers(calc, 3)).includes('g-2'), {
      message: 'the channel dropped g-2',
    });
    const after = await answers(calc, 20);
    expect(after['g-2']).toBeUndefined();
    expect(Object.keys(after).sort()).toEqual(['g-1', 'g-3']);

    // a new instance joins and is used
    await startServer('g-4');
    await nextValue(instances$, list => joinedIds(list) === 'g-1,g-3,g-4', 10_000);
    await waitFor(async () => (await call(calc)) === 'g-4', {
      timeout: 10_000,
      message: 'g-4 answering after it registered',
    });
  });

  it('targets must name a service; a bad registry argument is a readable error', () => {
    expect(() => registerEtcdResolver({} as never)).toThrow(/pass the app's EtcdRegistryService/);
    expect(() =>
      registerEtcdResolver({ instances$: () => undefined as never }, { scheme: 'Bad!' }),
    ).toThrow(/scheme must be a lower-case URI scheme/);
  });
});
