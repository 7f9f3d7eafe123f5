import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import {
  EtcdConfigService,
  EtcdModule,
  EtcdRegistryService,
  InjectConfig,
  defineConfig,
  type ConfigStatus,
  type ConfigValueOf,
} from '../../../lib/index.js';
import { nextValue, waitFor } from '../../support/index.js';
import { bootApp, useConfigSuite } from '../../support/config-test-kit.js';
import { TEST_RETRY } from '../../support/nest-apps.js';

const payments = defineConfig('payments.json', {
  schema: z.object({ provider: z.string(), retries: z.number().int() }),
  default: { provider: 'default', retries: 0 },
});

@Injectable()
class Payments {
  readonly atConstruction: { provider: string; retries: number };
  constructor(@InjectConfig(payments) readonly current: ConfigValueOf<typeof payments>) {
    this.atConstruction = current.value;
  }
}

describe('boot with the newest valid value: not the default when etcd holds a bad put', () => {
  const suite = useConfigSuite({ restartIfStopped: true, clearPrefix: '/', captureLogs: true });

  async function boot() {
    const app = suite.apps.track(
      await bootApp({
        imports: [
          EtcdModule.forRoot({
            hosts: suite.etcd.endpoint,
            retry: TEST_RETRY,
            registry: { serviceName: 'pay', instanceId: 'pay-1', host: '127.0.0.1', port: 9 },
          }),
        ],
        providers: [Payments],
      }),
    );
    return { app, config: app.get(EtcdConfigService), payments: app.get(Payments) };
  }

  it('serves the newest revision that passes the schema, with ONE warning naming both revisions; the status says rejected', async () => {
    await suite.etcd.put('/config/payments.json', '{"provider":"old","retries":1}');
    await suite.etcd.put('/config/payments.json', '{"provider":"acme","retries":3}');
    const good = await suite.etcd.revision();
    await suite.etcd.put('/config/other', 'noise');
    await suite.etcd.put('/config/payments.json', '{"provider":"acme","retries":"three"}');
    const bad = await suite.etcd.revision();

    const { app, config, payments: service } = await boot();
    expect(service.atConstruction).toEqual({ provider: 'acme', retries: 3 });
    const lines = suite.logs.matching('warn', /payments\.json/, 'EtcdConfig');
    expect(lines.map(line => line.message)).toEqual([
      expect.stringMatching(
        new RegExp(`revision ${bad} rejected at boot: .*retries.*serving revision ${good}\\b`),
      ),
    ]);
    expect(config.keyStatuses()['payments.json']).toMatchObject({
      revision: good,
      state: 'rejected',
      rejectedRevision: bad,
    });
    expect(config.servedRevision).toBeLessThan(bad);

    await nextValue(app.get(EtcdRegistryService).status$, s => s === 'registered', 10_000);
    const status = await waitFor(
      async () => {
        const text = await suite.etcd.get('/config-status/pay/pay-1');
        return text ? (JSON.parse(text) as ConfigStatus) : undefined;
      },
      { timeout: 5_000, message: 'no status key within 5 s' },
    );
    expect(status!.keys['payments.json']).toMatchObject({
      revision: good,
      source: '/config/payments.json',
      state: 'rejected',
      rejectedRevision: bad,
    });

    // A valid put later is applied as usual.
    await suite.etcd.put('/config/payments.json', '{"provider":"acme","retries":5}');
    await waitFor(() => service.current.value.retries === 5);
    expect(config.keyStatuses()['payments.json']).toMatchObject({ state: 'applied' });
  });

  it('no valid revision anywhere: the default, as before', async () => {
    await suite.etcd.put('/config/payments.json', '{"provider":1}');
    const { payments: service } = await boot();
    expect(service.atConstruction).toEqual({ provider: 'default', retries: 0 });
  });
});
