import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import {
  EtcdConfigService,
  EtcdModule,
  InjectConfig,
  type ConfigValue,
} from '../../../lib/index.js';
import { waitFor } from '../../support/index.js';
import { bootApp, useConfigSuite } from '../../support/config-test-kit.js';
import { useTempDir } from '../../support/etcd-suite.js';
import { TEST_RETRY } from '../../support/nest-apps.js';

/**
 * `__proto__`, `constructor` and `prototype` as config keys or folder children are own
 * data properties everywhere (folder, getAll, snapshot file), never an object's prototype.
 */

const PREFIX = '/hostile/';

const Db = z.object({ host: z.string(), port: z.number().default(5432) });

@Injectable()
class DbHolder {
  constructor(@InjectConfig('db/', { schema: Db }) readonly db: ConfigValue<z.infer<typeof Db>>) {}
}

describe('hostile config keys (__proto__, constructor, prototype)', () => {
  const suite = useConfigSuite({ clearPrefix: PREFIX });
  const tmp = useTempDir('nest-etcd-hostile-');

  it('a folder child __proto__ is an own key: it never becomes the prototype nor overrides a schema default', async () => {
    await suite.etcd.put(`${PREFIX}db/host`, 'db.internal');
    await suite.etcd.put(`${PREFIX}db/__proto__`, '{"port": 1, "polluted": true}');
    await suite.etcd.put(`${PREFIX}db/constructor/prototype`, '"x"');
    const app = suite.apps.track(
      await bootApp({
        imports: [
          EtcdModule.forRoot({
            hosts: suite.etcd.endpoint,
            retry: TEST_RETRY,
            config: { prefix: PREFIX },
          }),
        ],
        providers: [DbHolder],
      }),
    );
    const db = app.get(DbHolder).db;
    expect(db.value).toEqual({ host: 'db.internal', port: 5432 }); // the default, not 1
    const folder = app.get(EtcdConfigService).get<Record<string, unknown>>('db/')!;
    expect(Object.getPrototypeOf(folder)).toBe(Object.prototype);
    expect(Object.keys(folder).sort()).toEqual(['__proto__', 'constructor', 'host']);
    expect(Object.getOwnPropertyDescriptor(folder, '__proto__')?.value).toEqual({
      port: 1,
      polluted: true,
    });
    expect((folder as { port?: unknown }).port).toBeUndefined();
    expect(Object.getOwnPropertyDescriptor(folder, 'constructor')?.value).toEqual({
      prototype: 'x',
    });
    expect(JSON.parse(JSON.stringify(folder))).toHaveProperty(['__proto__', 'port'], 1);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('a top-level key __proto__ is in getAll() and in the snapshot file', async () => {
    const snapshotFile = join(tmp.path, 'hostile.snapshot.json');
    await suite.etcd.etcdctl(['put', '--', `${PREFIX}__proto__`, '{"a":1}']);
    await suite.etcd.put(`${PREFIX}plain`, 'p');
    const app = suite.apps.track(
      await bootApp({
        imports: [
          EtcdModule.forRoot({
            hosts: suite.etcd.endpoint,
            retry: TEST_RETRY,
            config: { prefix: PREFIX, snapshotFile, snapshotDebounce: 20 },
          }),
        ],
      }),
    );
    const config = app.get(EtcdConfigService);
    expect(config.get('__proto__')).toEqual({ a: 1 });
    const all = config.getAll();
    expect(Object.getPrototypeOf(all)).toBe(Object.prototype);
    expect(Object.keys(all).sort()).toEqual(['__proto__', 'plain']);
    expect(Object.getOwnPropertyDescriptor(all, '__proto__')?.value).toEqual({ a: 1 });

    const written = await waitFor(
      async () => {
        try {
          return JSON.parse(await readFile(snapshotFile, 'utf8')) as {
            values: Record<string, string>;
          };
        } catch {
          return undefined;
        }
      },
      { message: 'the snapshot file to be written' },
    );
    expect(Object.keys(written!.values).sort()).toEqual(['__proto__', 'plain']);
    expect(Object.getOwnPropertyDescriptor(written!.values, '__proto__')?.value).toBe('{"a":1}');
  });
});
