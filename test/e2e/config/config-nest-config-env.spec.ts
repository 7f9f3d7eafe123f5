import 'reflect-metadata';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { EtcdModule } from '../../../lib/index.js';
import { waitFor } from '../../support/index.js';
import { bootApp, useConfigSuite } from '../../support/config-test-kit.js';
import { TEST_RETRY } from '../../support/nest-apps.js';

/**
 * `config.nestConfig: true` mirrors etcd into @nestjs/config's ConfigService
 * and never changes process.env: writing NODE_OPTIONS or PATH, or deleting a key named HOME, leaves
 * the environment as it was while `configService.get` follows etcd.
 */

const PREFIX = '/nestenv/';

describe('nestConfig never touches process.env', () => {
  const suite = useConfigSuite({ clearPrefix: PREFIX });
  const env = { ...process.env };
  afterEach(() => {
    // Restore whatever a broken mirror wrote, so one failure does not poison the other specs.
    for (const key of Object.keys(process.env)) if (!(key in env)) delete process.env[key];
    Object.assign(process.env, env);
  });

  it('NODE_OPTIONS, PATH and HOME written or deleted in etcd: configService.get follows, process.env does not change', async () => {
    const before = { ...process.env };
    await suite.etcd.put(`${PREFIX}NODE_OPTIONS`, '--require /tmp/evil.js');
    await suite.etcd.put(`${PREFIX}HOME`, '/etcd/home');
    const app = suite.apps.track(
      await bootApp({
        imports: [
          ConfigModule.forRoot({ ignoreEnvFile: true }),
          EtcdModule.forRoot({
            hosts: suite.etcd.endpoint,
            retry: TEST_RETRY,
            config: { prefix: PREFIX, nestConfig: true },
          }),
        ],
      }),
    );
    const nestConfig = app.get(ConfigService);
    expect(nestConfig.get('NODE_OPTIONS')).toBe('--require /tmp/evil.js');
    expect(nestConfig.get('HOME')).toBe('/etcd/home');
    expect(process.env).toEqual(before);

    await suite.etcd.put(`${PREFIX}PATH`, '/etcd/bin');
    await waitFor(() => nestConfig.get('PATH') === '/etcd/bin', {
      message: 'configService.get to follow etcd',
    });
    expect(process.env).toEqual(before);

    await suite.etcd.del(`${PREFIX}HOME`);
    await waitFor(() => nestConfig.get('HOME') === before.HOME, {
      message: 'configService.get to fall back to the environment after the delete',
    });
    expect(process.env.HOME).toBe(before.HOME);
    expect(process.env).toEqual(before);
  });
});
