import 'reflect-metadata';
import { Controller, Get, type INestApplication, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import {
  EtcdDiscoveryExceptionFilter,
  EtcdModule,
  EtcdRegistryService,
} from '../../../lib/index.js';
import { freePort } from '../../support/index.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';
import { LogCapture } from '../../support/log-capture.js';
import { TEST_RETRY } from '../../support/nest-apps.js';

@Controller()
class CallsController {
  constructor(private readonly registry: EtcdRegistryService) {}

  @Get('nobody')
  async nobody(): Promise<number> {
    return (await this.registry.fetch('nobody', '/')).status;
  }

  @Get('refused')
  async refused(): Promise<number> {
    return (await this.registry.fetch('refused', '/')).status;
  }

  @Get('boom')
  boom(): never {
    throw new Error('boom');
  }
}

// A dependency with no live instance is a 503, not this app's 500.
describe('EtcdDiscoveryExceptionFilter (real etcd, express)', () => {
  const suite = useEtcdSuite();
  const logs = new LogCapture();
  beforeEach(() => logs.install());
  afterEach(() => logs.uninstall());

  async function start(): Promise<string> {
    @Module({
      imports: [
        EtcdModule.forRoot({ hosts: suite.etcd.endpoint, config: false, retry: TEST_RETRY }),
      ],
      controllers: [CallsController],
      providers: [{ provide: APP_FILTER, useClass: EtcdDiscoveryExceptionFilter }],
    })
    class CallsModule {}
    const moduleRef = await Test.createTestingModule({ imports: [CallsModule] }).compile();
    const app: INestApplication = moduleRef.createNestApplication();
    suite.apps.push(app);
    await app.listen(0, '127.0.0.1');
    return (await app.getUrl()).replace('[::1]', '127.0.0.1');
  }

  it('answers 503 naming only the service; other errors stay 500', async () => {
    const closedPort = await freePort();
    await suite.etcd.put(
      '/services/refused/r-1',
      JSON.stringify({ host: '127.0.0.1', port: closedPort }),
    );
    const url = await start();

    const nobody = await fetch(`${url}/nobody`);
    expect(nobody.status).toBe(503);
    expect(await nobody.json()).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'service "nobody" is unavailable',
      service: 'nobody',
    });

    const refused = await fetch(`${url}/refused`);
    expect(refused.status).toBe(503);
    const text = await refused.text();
    expect(text).toContain('service \\"refused\\" is unavailable');
    expect(text).not.toContain(String(closedPort)); // no internal address reaches the caller
    expect(logs.warnings('answered 503', 'refused', String(closedPort))).toHaveLength(1);

    expect((await fetch(`${url}/boom`)).status).toBe(500);
  });
});
