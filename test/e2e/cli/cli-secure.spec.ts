import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OrdersApp } from '../../fixtures/admin/orders-app.launcher.js';
import { runNestEtcd, statusesReady, STORY_TIMEOUT_MS } from '../../support/cli-test-kit.js';
import { useEtcdSuite, useTempDir } from '../../support/etcd-suite.js';
import { EtcdServer } from '../../support/etcd-server.js';
import { NodeChild } from '../../support/node-child.js';
import {
  disposeTlsMaterial,
  generateTlsMaterial,
  type TlsMaterial,
} from '../../support/tls-certs.js';

const ROOT_PASSWORD = 'r00t-Cli-Secret-7';

/**
 * The story with one v1 and one v2 instance: validate, put --wait, history, rollback --wait,
 * diff/apply of a folder; `cli` adds the connection flags.
 */
async function story(
  etcd: EtcdServer,
  dir: string,
  appEnv: Record<string, string>,
  cli: (args: string[]) => ReturnType<typeof runNestEtcd>,
): Promise<void> {
  await Promise.all([
    OrdersApp.start({ hosts: etcd.endpoint, id: 'orders-a', schema: 'v1', env: appEnv }),
    OrdersApp.start({ hosts: etcd.endpoint, id: 'orders-c', schema: 'v2', env: appEnv }),
  ]);
  await statusesReady(etcd, 2);
  await writeFile(join(dir, 'v1-only.json'), '{"max": 5}');
  await writeFile(join(dir, 'all.json'), '{"max": 5, "currency": "USD"}');
  const validate = await cli([
    'validate',
    'orders',
    'limits.json',
    '-f',
    join(dir, 'v1-only.json'),
  ]);
  expect(validate.exit).toBe(2);
  expect(validate.stdout).toMatch(/orders-c\s+.*REJECTS\s+.*currency/);
  const put = await cli([
    'put',
    'orders',
    'limits.json',
    '-f',
    join(dir, 'all.json'),
    '--wait',
    '30s',
  ]);
  expect(put.exit).toBe(0);
  expect(put.stdout).toMatch(/instance orders-a: applied/);
  expect(put.stdout).toMatch(/instance orders-c: applied/);
  const written = Number(/written at revision (\d+)/.exec(put.stdout)![1]);
  await writeFile(join(dir, 'all2.json'), '{"max": 6, "currency": "EUR"}');
  expect((await cli(['put', 'orders', 'limits.json', '-f', join(dir, 'all2.json')])).exit).toBe(0);
  const history = await cli(['history', 'orders', 'limits.json']);
  expect(history.stdout).toContain(`${written}`);
  const rollback = await cli(['rollback', 'orders', 'limits.json', `${written}`, '--wait', '30s']);
  expect(rollback.exit).toBe(0);
  expect(rollback.stdout.split('\n').filter(l => / applied/.test(l))).toHaveLength(2);
  const folder = join(dir, 'folder');
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'greeting'), 'hello');
  expect((await cli(['diff', 'orders', folder])).exit).toBe(1);
  expect((await cli(['apply', 'orders', folder])).exit).toBe(0);
  expect((await cli(['diff', 'orders', folder])).exit).toBe(0);
}

describe('nest-etcd CLI against etcd with auth', () => {
  const suite = useEtcdSuite({ buildLib: true, etcd: { auth: { rootPassword: ROOT_PASSWORD } } });
  const tmp = useTempDir('cli-auth-');
  const asRoot = (args: string[], password = ROOT_PASSWORD) =>
    runNestEtcd([...args, '--endpoints', suite.etcd.endpoint, '--user', 'root'], {
      env: { ETCD_PASSWORD: password },
    });

  it(
    'runs the story as root; the password is never printed',
    async () => {
      await story(
        suite.etcd,
        tmp.path,
        { ETCD_USERNAME: 'root', ETCD_PASSWORD: ROOT_PASSWORD },
        async args => {
          const run = await asRoot(args);
          expect(run.stdout + run.stderr).not.toContain(ROOT_PASSWORD);
          return run;
        },
      );
    },
    STORY_TIMEOUT_MS,
  );

  it('a wrong password: exit 3 naming the user, without the password', async () => {
    const run = await asRoot(['services'], 'not-the-password');
    expect(run.exit).toBe(3);
    expect(run.stderr).toMatch(/root/);
    expect(run.stdout + run.stderr).not.toContain('not-the-password');
  });

  it('no password for --user: exit 2 before connecting', async () => {
    const run = await runNestEtcd([
      'services',
      '--endpoints',
      suite.etcd.endpoint,
      '--user',
      'root',
    ]);
    expect(run.exit).toBe(2);
    expect(run.stderr).toMatch(/ETCD_PASSWORD/);
  });

  it('permission denied by RBAC: exit 3 naming the key, nothing written', async () => {
    await suite.etcd.put(
      '/config-status/orders/x',
      JSON.stringify({ prefix: '/config/', keys: {} }),
    );
    for (const args of [
      ['role', 'add', 'reader'],
      ['role', 'grant-permission', '--prefix=true', 'reader', 'read', '/'],
      ['user', 'add', 'viewer', '--new-user-password=viewer-pw'],
      ['user', 'grant-role', 'viewer', 'reader'],
    ]) {
      await suite.etcd.etcdctl(args);
    }
    await writeFile(join(tmp.path, 'denied.json'), '{"max": 3}');
    const run = await runNestEtcd(
      [
        'put',
        'orders',
        'denied.json',
        '-f',
        join(tmp.path, 'denied.json'),
        '--endpoints',
        suite.etcd.endpoint,
        '--user',
        'viewer',
      ],
      { env: { ETCD_PASSWORD: 'viewer-pw' } },
    );
    expect(run.exit).toBe(3);
    expect(run.stderr).toMatch(
      /etcd denied write on "\/config\/denied.json" for user "viewer": permission denied/,
    );
    expect(await suite.etcd.get('/config/denied.json')).toBeUndefined();
  });
});

describe('nest-etcd CLI against etcd with TLS (client certificates)', () => {
  let tls: TlsMaterial;
  let etcd: EtcdServer | undefined;
  const tmp = useTempDir('cli-tls-');

  beforeAll(async () => {
    tls = await generateTlsMaterial();
    etcd = await EtcdServer.start({ tls });
  });
  afterEach(async () => {
    await NodeChild.disposeAll();
  });
  afterAll(async () => {
    await etcd?.dispose();
    await disposeTlsMaterial(tls);
  });

  it(
    'runs the story with --ca-file/--cert-file/--key-file (the apps with ETCD_*_FILE)',
    async () => {
      const files = {
        ETCD_CA_FILE: tls.caFile,
        ETCD_CERT_FILE: tls.clientCertFile,
        ETCD_KEY_FILE: tls.clientKeyFile,
      };
      await story(etcd!, tmp.path, files, args =>
        runNestEtcd([
          ...args,
          '--endpoints',
          etcd!.endpoint,
          '--ca-file',
          tls.caFile,
          '--cert-file',
          tls.clientCertFile,
          '--key-file',
          tls.clientKeyFile,
        ]),
      );
    },
    STORY_TIMEOUT_MS,
  );

  it('without the CA: exit 3 with a TLS error', async () => {
    const run = await runNestEtcd(['services', '--endpoints', etcd!.endpoint, '--timeout', '3s']);
    expect(run.exit).toBe(3);
    expect(run.stderr).toMatch(/^error: /);
  });
});
