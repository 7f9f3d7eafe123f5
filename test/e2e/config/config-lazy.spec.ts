import 'reflect-metadata';
import { LazyModuleLoader } from '@nestjs/core';
import { EtcdModule, getConfigToken } from '../../../lib/index.js';
import { nextValue } from '../../support/index.js';
import { bootApp, useConfigSuite } from '../../support/config-test-kit.js';
import { TEST_RETRY } from '../../support/nest-apps.js';

// The lazy fixtures are imported dynamically, after forRoot() was evaluated: exactly the case
// EtcdModule.forFeature() exists for.
describe('EtcdModule.forFeature + LazyModuleLoader against real etcd', () => {
  const suite = useConfigSuite();
  const { apps } = suite;

  it('a lazily loaded module gets live config for keys declared with forFeature', async () => {
    await suite.etcd.put('/config/reports.pageSize', '25');
    const app = apps.track(
      await bootApp({
        imports: [EtcdModule.forRoot({ hosts: suite.etcd.endpoint, retry: TEST_RETRY })],
      }),
    );
    // forRoot knew nothing of the key.
    expect(() => app.get(getConfigToken('reports.pageSize'))).toThrow();

    const { LazyReportsModule, LazyReportsService } =
      await import('../../fixtures/config/lazy.module.js');
    const loader = app.get(LazyModuleLoader);
    const lazyRef = await loader.load(() => LazyReportsModule);
    const reports = lazyRef.get(LazyReportsService);
    expect(reports.pageSizeAtConstruction).toBe(25);
    expect(reports.pageSize.key).toBe('reports.pageSize');

    await suite.etcd.put('/config/reports.pageSize', '50');
    await nextValue(reports.pageSize, v => v === 50);
    expect(reports.pageSize.value).toBe(50);
    await suite.etcd.del('/config/reports.pageSize');
    await nextValue(reports.pageSize, v => v === 10); // the @InjectConfig default

    // Loading it again reuses the same module and the same ConfigValue.
    const again = await loader.load(() => LazyReportsModule);
    expect(again.get(LazyReportsService).pageSize).toBe(reports.pageSize);
  });

  it('without forFeature, a lazily loaded module cannot resolve its config key', async () => {
    const app = apps.track(
      await bootApp({
        imports: [EtcdModule.forRoot({ hosts: suite.etcd.endpoint, retry: TEST_RETRY })],
      }),
    );
    const { LazyUndeclaredModule } =
      await import('../../fixtures/config/lazy-undeclared.module.js');
    await expect(app.get(LazyModuleLoader).load(() => LazyUndeclaredModule)).rejects.toThrow(
      /nest-etcd:config:undeclared\.key/,
    );
  });
});
