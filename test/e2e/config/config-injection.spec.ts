import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { BehaviorSubject } from 'rxjs';
import {
  EtcdConfigService,
  EtcdModule,
  getConfigToken,
  type ConfigValue,
} from '../../../lib/index.js';
import { nextValue, waitFor } from '../../support/index.js';
import { bootApp, useConfigSuite } from '../../support/config-test-kit.js';
import { TEST_RETRY } from '../../support/nest-apps.js';
import {
  FeatureModule,
  FeatureService,
  OtherFeatureService,
} from '../../fixtures/config/feature.module.js';

/** Stands in for @nestjs/config's ConfigService: bootstrap settings that are not in etcd. */
@Injectable()
class BootstrapSettings {
  endpoint = '';
}

describe('@InjectConfig / ConfigValue against real etcd', () => {
  const suite = useConfigSuite({ clearPrefix: '/config/', captureLogs: true });
  const { apps, subscriptions, logs } = suite;

  it('injects live values into a feature module provider (forRoot); the constructor sees them', async () => {
    await suite.etcd.put('/config/feature.port', '8080');
    await suite.etcd.put('/config/feature.title', 'orders');
    const app = apps.track(
      await bootApp({
        imports: [
          EtcdModule.forRoot({ hosts: suite.etcd.endpoint, retry: TEST_RETRY }),
          FeatureModule,
        ],
      }),
    );
    const feature = app.get(FeatureService);
    expect(feature.portAtConstruction).toBe(8080);
    expect(feature.port.key).toBe('feature.port');
    expect(feature.port.value).toBe(8080);
    expect(feature.limits.value).toEqual({ max: 1, burst: 0 }); // missing: the default
    expect(feature.title.value).toBe('ORDERS'); // custom parse

    // Several providers asking for one key share one ConfigValue.
    const other = app.get(OtherFeatureService, { strict: false });
    expect(other.port).toBe(feature.port);
    expect(app.get(getConfigToken('feature.port'))).toBe(feature.port);

    // put -> .value and subscribers updated.
    const seen: number[] = [];
    const errors: unknown[] = [];
    subscriptions.push(
      feature.port.subscribe({ next: v => seen.push(v), error: e => errors.push(e) }),
    );
    expect(seen).toEqual([8080]); // current value first
    await suite.etcd.put('/config/feature.port', '9090');
    await nextValue(feature.port, v => v === 9090);
    expect(feature.port.value).toBe(9090);
    expect(seen).toEqual([8080, 9090]);

    // An invalid update is rejected: last good kept, ONE warning naming key, revision and reason.
    await suite.etcd.put('/config/feature.port', '"not-a-port"');
    const badRevision = await suite.etcd.revision();
    await waitFor(() => logs.warnings('"feature.port"').length > 0);
    expect(logs.warnings('"feature.port"')).toEqual([
      expect.stringContaining(`revision ${badRevision}`) as string,
    ]);
    expect(logs.warnings('"feature.port"')[0]).toContain('expected an integer port');
    expect(feature.port.value).toBe(9090);
    await suite.etcd.put('/config/feature.port', '70000'); // out of range: rejected as well
    await waitFor(() => logs.warnings('"feature.port"').length === 2);
    expect(feature.port.value).toBe(9090);

    // An object value through a schema.
    await suite.etcd.put('/config/feature.limits', '{"max":50}');
    await nextValue(feature.limits, v => v.max === 50);
    expect(feature.limits.value).toEqual({ max: 50, burst: 0 });

    // Back to good, then deleted -> the default (3000), and undefined without a default.
    await suite.etcd.put('/config/feature.port', '7070');
    await nextValue(feature.port, v => v === 7070);
    await suite.etcd.del('/config/feature.port');
    await nextValue(feature.port, v => v === 3000);
    await suite.etcd.del('/config/feature.title');
    await nextValue(feature.title, v => v === undefined);
    expect(seen).toEqual([8080, 9090, 7070, 3000]);
    expect(errors).toEqual([]);

    // The service view agrees with the ConfigValue view.
    expect(app.get(EtcdConfigService).get('feature.port')).toBeUndefined();
    expect(app.get(EtcdConfigService).get('feature.limits')).toEqual({ max: 50 });
  });

  it('works under forRootAsync (options from another provider)', async () => {
    await suite.etcd.put('/config/feature.port', '4444');
    @Module({ providers: [BootstrapSettings], exports: [BootstrapSettings] })
    class SettingsModule {}
    let factoryCalls = 0;
    const app = apps.track(
      await bootApp(
        {
          imports: [
            EtcdModule.forRootAsync({
              imports: [SettingsModule],
              inject: [BootstrapSettings],
              useFactory: (settings: BootstrapSettings) => {
                factoryCalls++;
                return { hosts: settings.endpoint, retry: TEST_RETRY };
              },
            }),
            FeatureModule,
          ],
        },
        builder =>
          builder
            .overrideProvider(BootstrapSettings)
            .useValue(Object.assign(new BootstrapSettings(), { endpoint: suite.etcd.endpoint })),
      ),
    );
    expect(factoryCalls).toBe(1);
    const feature = app.get(FeatureService);
    expect(feature.portAtConstruction).toBe(4444);
    await suite.etcd.put('/config/feature.port', '4445');
    await nextValue(feature.port, v => v === 4445);
    expect(app.get(EtcdConfigService).get('feature.port')).toBe(4445);
  });

  it('getConfigToken(key) lets a test override a key with useValue', async () => {
    await suite.etcd.put('/config/feature.port', '8080');
    const fakePort = Object.assign(new BehaviorSubject(1234), {
      key: 'feature.port',
    }) as unknown as ConfigValue<number>;
    const app = apps.track(
      await bootApp(
        {
          imports: [
            EtcdModule.forRoot({ hosts: suite.etcd.endpoint, retry: TEST_RETRY }),
            FeatureModule,
          ],
        },
        builder => builder.overrideProvider(getConfigToken('feature.port')).useValue(fakePort),
      ),
    );
    const feature = app.get(FeatureService);
    expect(feature.port).toBe(fakePort);
    expect(feature.portAtConstruction).toBe(1234);
    expect(app.get(OtherFeatureService, { strict: false }).port).toBe(fakePort);
    // Keys not overridden still come from etcd.
    expect(feature.limits.value).toEqual({ max: 1, burst: 0 });
    expect(getConfigToken('feature.port')).not.toBe(getConfigToken('feature.limits'));
  });
});
