import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ordersV1, ordersV2, publishSchema, writeStatus } from '../../support/admin-test-kit.js';
import { runNestEtcd } from '../../support/cli-test-kit.js';
import { useEtcdSuite, useTempDir } from '../../support/etcd-suite.js';
import { expectDuration } from '../../support/jest-helpers.js';

/**
 * Bad input gets a clear one-line error, the exit code of docs/cli.md, and changes nothing (status
 * keys written by hand: the rules, not the instances, are under test here).
 */
describe('nest-etcd CLI: bad input changes nothing', () => {
  const suite = useEtcdSuite({ buildLib: true });
  const tmp = useTempDir('cli-errors-');
  const cli = (args: string[]) => runNestEtcd(args, { env: { ETCD_HOSTS: suite.etcd.endpoint } });
  const file = async (name: string, text: string) => {
    const path = join(tmp.path, name);
    await writeFile(path, text);
    return path;
  };

  beforeAll(async () => {
    const v1 = await publishSchema(suite.etcd, ordersV1);
    const v2 = await publishSchema(suite.etcd, ordersV2);
    await writeStatus(suite.etcd, 'orders', {
      instanceId: 'a',
      keys: { 'limits.json': { schema: v1 } },
    });
    await writeStatus(suite.etcd, 'orders', {
      instanceId: 'c',
      keys: { 'limits.json': { schema: v2 } },
    });
  });

  /** Nothing under /config/ or /config-audit/: no write happened. */
  async function nothingWritten(): Promise<void> {
    expect(await suite.etcd.getPrefix('/config/')).toEqual(new Map());
    expect(await suite.etcd.getPrefix('/config-audit/')).toEqual(new Map());
  }

  it('unknown service: exit 2, names the known ones', async () => {
    const run = await cli(['put', 'payments', 'limits.json', '-f', await file('a.json', '{}')]);
    expect(run.exit).toBe(2);
    expect(run.stderr.trim()).toBe(
      'error: unknown service "payments": no instance is registered and none reports a config status (known: orders)',
    );
    await nothingWritten();
  });

  it('a key outside every prefix: exit 2', async () => {
    const run = await cli([
      'put',
      'orders',
      '/other/limits.json',
      '-f',
      await file('b.json', '{}'),
    ]);
    expect(run.exit).toBe(2);
    expect(run.stderr).toMatch(
      /key "\/other\/limits.json" is outside every config prefix of service "orders" \(\/config\/\)/,
    );
    await nothingWritten();
  });

  it('a file that is not the key format: exit 2 with the parser complaint', async () => {
    const run = await cli([
      'put',
      'orders',
      'limits.json',
      '-f',
      await file('c.json', '{"max": 1,'),
    ]);
    expect(run.exit).toBe(2);
    expect(run.stderr).toMatch(
      /value for "\/config\/limits.json" not written: invalid JSON document/,
    );
    const yaml = await cli([
      'validate',
      'orders',
      'db.yaml',
      '-f',
      await file('d.yaml', 'a: [1, 2'),
    ]);
    expect(yaml.exit).toBe(2);
    expect(yaml.stdout).toMatch(/\/config\/db.yaml \(yaml\): INVALID\ninvalid YAML document/);
    await nothingWritten();
  });

  it('usage errors: exit 2 with the usage', async () => {
    const missing = await cli(['put', 'orders', 'limits.json']);
    expect(missing.exit).toBe(2);
    expect(missing.stderr).toMatch(/put needs -f <file>/);
    const unknown = await cli(['frobnicate']);
    expect(unknown.exit).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"[\s\S]*Usage: nest-etcd/);
    const badWait = await cli(['put', 'orders', 'limits.json', '-f', 'x', '--wait', '5 parsecs']);
    expect(badWait.exit).toBe(2);
    await nothingWritten();
  });

  it('a CAS conflict: exit 1 with both revisions, nothing written', async () => {
    const path = await file('e.json', '{"max": 2, "currency": "EUR"}');
    const first = await cli(['put', 'orders', 'limits.json', '-f', path, '-o', 'json']);
    expect(first.exit).toBe(0);
    const { result } = JSON.parse(first.stdout) as { result: { revision: number } };
    const stale = await cli([
      'put',
      'orders',
      'limits.json',
      '-f',
      path,
      '--expect-revision',
      `${result.revision - 1}`,
    ]);
    expect(stale.exit).toBe(1);
    expect(stale.stderr.trim()).toBe(
      `error: "/config/limits.json" changed: expected revision ${result.revision - 1}, etcd has ${result.revision} ` +
        '(someone else wrote it; read it again and retry). Nothing was written.',
    );
    expect(await suite.etcd.get('/config/limits.json')).toBe('{"max": 2, "currency": "EUR"}');
    await suite.etcd.del('/config/', { prefix: true });
    await suite.etcd.del('/config-audit/', { prefix: true });
  });

  it('-f - reads the value from standard input', async () => {
    const run = await runNestEtcd(['validate', 'orders', 'limits.json', '-f', '-'], {
      env: { ETCD_HOSTS: suite.etcd.endpoint },
      input: '{"max": 2, "currency": "EUR"}',
    });
    expect(run.exit).toBe(0);
    expect(run.stdout).toMatch(/\/config\/limits.json \(json\): valid/);
  });

  it('etcd unreachable: exit 3 within the timeout', async () => {
    const started = Date.now();
    const run = await runNestEtcd([
      'services',
      '--endpoints',
      'http://127.0.0.1:9',
      '--timeout',
      '2s',
    ]);
    const elapsed = Date.now() - started;
    expect(run.exit).toBe(3);
    expect(run.stderr).toMatch(/^error: .*127\.0\.0\.1:9/);
    // 2 s connect timeout + node start-up on a loaded machine
    expectDuration(
      elapsed,
      20_000,
      'nest-etcd services against an unreachable etcd (--timeout 2s)',
    );
  });

  it('-o json: an error is a JSON document too', async () => {
    const run = await cli(['status', 'payments', '-o', 'json']);
    expect(run.exit).toBe(2);
    expect(JSON.parse(run.stdout)).toEqual({
      error: {
        name: 'UnknownServiceError',
        message: expect.stringMatching(/payments/),
        exitCode: 2,
      },
    });
  });
});
