import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import {
  EtcdConfigService,
  EtcdModule,
  InjectConfig,
  type ConfigValue,
} from '../../../lib/index.js';
import { nextValue } from '../../support/index.js';
import { bootApp, useConfigSuite } from '../../support/config-test-kit.js';
import { TEST_RETRY } from '../../support/nest-apps.js';

/**
 * A profile overlay of a `*.yaml` / `*.json` document merges into the
 * base document (objects deep, arrays replaced), like Spring profiles.
 */

const PREFIX = '/overlays/';

interface Db {
  host?: string;
  port?: number;
  pool?: { min?: number; max?: number };
  replicas?: string[];
}

@Injectable()
class DbHolder {
  constructor(@InjectConfig('db.yaml') readonly db: ConfigValue<Db | undefined>) {}
}

describe('document overlays merge (objects deep, arrays replaced)', () => {
  const suite = useConfigSuite({ clearPrefix: PREFIX });

  it('a canary overlay of db.yaml with one field keeps the base document’s other fields, live', async () => {
    await suite.etcd.put(
      `${PREFIX}db.yaml`,
      'host: db.internal\nport: 5432\npool:\n  min: 1\n  max: 10\nreplicas: [a, b]\n',
    );
    await suite.etcd.put(`${PREFIX}@canary/db.yaml`, 'pool:\n  max: 50\n');
    await suite.etcd.put(`${PREFIX}flags.json`, '{"search":true,"beta":false}');
    await suite.etcd.put(`${PREFIX}@canary/flags.json`, '{"beta":true}');
    const app = suite.apps.track(
      await bootApp({
        imports: [
          EtcdModule.forRoot({
            hosts: suite.etcd.endpoint,
            retry: TEST_RETRY,
            config: { prefix: PREFIX, profiles: ['canary'] },
          }),
        ],
        providers: [DbHolder],
      }),
    );
    const db = app.get(DbHolder).db;
    const config = app.get(EtcdConfigService);
    expect(db.value).toEqual({
      host: 'db.internal',
      port: 5432,
      pool: { min: 1, max: 50 },
      replicas: ['a', 'b'],
    });
    expect(config.get('flags.json')).toEqual({ search: true, beta: true });
    expect(config.getAll()['db.yaml']).toEqual(db.value);

    // A change of the base shows through the overlay; arrays in the overlay replace.
    await suite.etcd.put(
      `${PREFIX}db.yaml`,
      'host: db2.internal\nport: 5432\npool:\n  min: 2\n  max: 10\nreplicas: [a, b]\n',
    );
    await nextValue(db, value => value?.host === 'db2.internal');
    expect(db.value?.pool).toEqual({ min: 2, max: 50 });
    await suite.etcd.put(`${PREFIX}@canary/db.yaml`, 'replicas: [c]\n');
    await nextValue(db, value => value?.replicas?.length === 1);
    expect(db.value).toEqual({
      host: 'db2.internal',
      port: 5432,
      pool: { min: 2, max: 10 },
      replicas: ['c'],
    });

    // The overlay deleted: the base document alone.
    await suite.etcd.del(`${PREFIX}@canary/db.yaml`);
    await nextValue(db, value => value?.replicas?.length === 2);
    expect(db.value?.replicas).toEqual(['a', 'b']);
  });
});
