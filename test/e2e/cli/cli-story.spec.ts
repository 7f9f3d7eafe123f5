import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OrdersApp } from '../../fixtures/admin/orders-app.launcher.js';
import { runNestEtcd, statusesReady, STORY_TIMEOUT_MS } from '../../support/cli-test-kit.js';
import { useEtcdSuite, useTempDir } from '../../support/etcd-suite.js';

/**
 * An operator's story (docs/cli.md) with real instances (child processes) and the CLI run as a user
 * runs it (`node dist/cli/main.js`): a rolling deploy with two instances on schema v1 and one on v2.
 */
describe('nest-etcd CLI: the rolling-deploy story (real etcd, real instances)', () => {
  const suite = useEtcdSuite({ buildLib: true });
  const tmp = useTempDir('cli-story-');
  const cli = (args: string[], input?: string) =>
    runNestEtcd(args, {
      env: { ETCD_HOSTS: suite.etcd.endpoint },
      ...(input !== undefined ? { input } : {}),
    });

  it(
    'validate -> put --wait -> put --force -> diff/apply --prune -> history -> rollback --wait',
    async () => {
      await Promise.all([
        OrdersApp.start({ hosts: suite.etcd.endpoint, id: 'orders-a', schema: 'v1' }),
        OrdersApp.start({ hosts: suite.etcd.endpoint, id: 'orders-b', schema: 'v1' }),
        OrdersApp.start({ hosts: suite.etcd.endpoint, id: 'orders-c', schema: 'v2' }),
      ]);
      await statusesReady(suite.etcd, 3);
      const dir = tmp.path;

      const services = await cli(['services']);
      expect(services.stdout).toMatch(/orders\s+3\s+3\s+0/);

      // a value only v1 accepts: exit 2, naming the v2 instance and the schema's complaint
      await writeFile(join(dir, 'v1-only.json'), '{"max": 5}');
      const validate = await cli([
        'validate',
        'orders',
        'limits.json',
        '-f',
        join(dir, 'v1-only.json'),
      ]);
      expect(validate.exit).toBe(2);
      expect(validate.stdout).toMatch(/orders-c\s+prefix\s+\w+\s+REJECTS\s+.*currency/);
      expect(validate.stdout).not.toMatch(/orders-a\s+.*REJECTS/);

      // a value all accept: each instance printed as it applies, exit 0
      await writeFile(join(dir, 'all.json'), '{"max": 5, "currency": "EUR"}');
      const put = await cli([
        'put',
        'orders',
        'limits.json',
        '-f',
        join(dir, 'all.json'),
        '--wait',
        '30s',
      ]);
      expect(put.stderr).toBe('');
      expect(put.exit).toBe(0);
      const applied = put.stdout.split('\n').filter(l => / applied/.test(l));
      expect(applied.map(l => l.split(':')[0]).sort()).toEqual([
        'instance orders-a',
        'instance orders-b',
        'instance orders-c',
      ]);
      const firstRevision = Number(/written at revision (\d+)/.exec(put.stdout)![1]);

      // --force of a value v2 rejects: exit 1 naming it
      const forced = await cli([
        'put',
        'orders',
        'limits.json',
        '-f',
        join(dir, 'v1-only.json'),
        '--force',
        '--wait',
        '30s',
      ]);
      expect(forced.exit).toBe(1);
      expect(forced.stdout).toMatch(/instance orders-c: rejected.*currency/);
      expect(forced.stdout).toMatch(/instance orders-a: applied/);

      const status = await cli(['status', 'orders', '-o', 'json']);
      const statuses = JSON.parse(status.stdout) as Array<{
        instanceId: string;
        keys: Record<string, { state: string }>;
      }>;
      expect(statuses.map(s => [s.instanceId, s.keys['limits.json']?.state])).toEqual([
        ['orders-a', 'applied'],
        ['orders-b', 'applied'],
        ['orders-c', 'rejected'],
      ]);

      // history and rollback --wait to the value every instance accepts
      const history = await cli(['history', 'orders', 'limits.json']);
      expect(history.exit).toBe(0);
      expect(history.stdout).toContain(`${firstRevision}`);
      const rollback = await cli([
        'rollback',
        'orders',
        'limits.json',
        `${firstRevision}`,
        '--wait',
      ]);
      expect(rollback.exit).toBe(0);
      expect(rollback.stdout).toMatch(/-\{"max": 5\}/);
      expect(rollback.stdout.split('\n').filter(l => / applied/.test(l))).toHaveLength(3);

      // a folder: diff (1: differences) -> apply -> diff (0) -> prune
      const folder = await mkdtemp(join(tmpdir(), 'cli-folder-'));
      try {
        await writeFile(join(folder, 'limits.json'), '{"max": 9, "currency": "USD"}');
        await writeFile(join(folder, 'greeting'), 'hello');
        const diff = await cli(['diff', 'orders', folder]);
        expect(diff.exit).toBe(1);
        expect(diff.stdout).toMatch(/update \/config\/limits.json/);
        expect(diff.stdout).toMatch(/create \/config\/greeting/);
        const apply = await cli(['apply', 'orders', folder, '--wait', '30s']);
        expect(apply.exit).toBe(0);
        expect((await cli(['diff', 'orders', folder])).exit).toBe(0);
        await rm(join(folder, 'greeting'));
        const pruneDiff = await cli(['diff', 'orders', folder, '--prune']);
        expect(pruneDiff.exit).toBe(1);
        expect(pruneDiff.stdout).toMatch(/delete \/config\/greeting/);
        expect((await cli(['apply', 'orders', folder, '--prune'])).exit).toBe(0);
        expect(await suite.etcd.get('/config/greeting')).toBeUndefined();
        expect((await cli(['diff', 'orders', folder, '--prune'])).exit).toBe(0);
      } finally {
        await rm(folder, { recursive: true, force: true });
      }

      const audit = await cli(['audit', 'orders', '-o', 'json']);
      const records = JSON.parse(audit.stdout) as Array<{ action: string }>;
      expect(records.map(r => r.action)).toEqual(['apply', 'apply', 'rollback', 'put', 'put']);
    },
    STORY_TIMEOUT_MS,
  );
});
