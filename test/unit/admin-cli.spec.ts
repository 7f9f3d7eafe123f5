import { describeErrors, compileSchema } from '../../lib/admin/schema-checker.js';
import { diffLines, renderDiff } from '../../lib/admin/text-diff.js';
import { outcome } from '../../lib/admin/rollout.js';
import type { InstanceStatus } from '../../lib/admin/admin.interfaces.js';
import { duration, parseCli } from '../../lib/cli/cli-args.js';
import { exitCodeOf } from '../../lib/cli/cli-exit-codes.js';
import { CliUsageError } from '../../lib/errors/cli-usage.error.js';
import { ConfigConflictError } from '../../lib/errors/config-conflict.error.js';
import { ConfigValidationError } from '../../lib/errors/config-validation.error.js';
import { EtcdPermissionError } from '../../lib/errors/etcd-permission.error.js';
import { UnknownServiceError } from '../../lib/errors/unknown-service.error.js';

describe('nest-etcd command line', () => {
  it('parses commands, positionals and flags', () => {
    expect(
      parseCli([
        'put',
        'orders',
        'limits.json',
        '-f',
        'v.json',
        '--profile',
        'canary',
        '--wait',
        '--force',
      ]),
    ).toMatchObject({
      command: 'put',
      args: { service: 'orders', key: 'limits.json' },
      file: 'v.json',
      profile: 'canary',
      waitMs: 30_000,
      force: true,
      output: 'table',
    });
    expect(parseCli(['rollback', 'orders', 'k', '12', '--wait', '2m', '-o', 'json'])).toMatchObject(
      {
        waitMs: 120_000,
        output: 'json',
        args: { revision: '12' },
      },
    );
    expect(parseCli(['--help'])).toBe('help');
    expect(parseCli([])).toBe('help');
  });

  it('refuses what it does not understand, with the usage', () => {
    expect(() => parseCli(['frob'])).toThrow(/unknown command "frob"/);
    expect(() => parseCli(['status'])).toThrow(/status takes <service>, got none/);
    expect(() => parseCli(['validate', 'a', 'b'])).toThrow(/needs -f <file>/);
    expect(() => parseCli(['status', 'a', '--bogus'])).toThrow(CliUsageError);
    expect(() => parseCli(['status', 'a', '-o', 'yaml'])).toThrow(/-o must be "json" or "table"/);
    expect(() => parseCli(['rollback', 'a', 'k', 'x'])).toThrow(/<revision> takes an integer/);
  });

  it('reads durations', () => {
    expect(duration('--wait', '500ms')).toBe(500);
    expect(duration('--wait', '30s')).toBe(30_000);
    expect(duration('--wait', '1.5')).toBe(1500);
    expect(() => duration('--wait', 'soon')).toThrow(/--wait takes a duration/);
  });

  it('maps errors to the exit codes of docs/cli.md', () => {
    expect(exitCodeOf(new ConfigConflictError('/k', 1, 2))).toBe(1);
    expect(exitCodeOf(new ConfigValidationError('/k', [{ reason: 'x' }]))).toBe(2);
    expect(exitCodeOf(new UnknownServiceError('s', []))).toBe(2);
    expect(exitCodeOf(new CliUsageError('x'))).toBe(2);
    expect(exitCodeOf(new EtcdPermissionError('write', '/k', 'u'))).toBe(3);
  });
});

describe('admin core pure parts', () => {
  it('diffLines: a line diff with context', () => {
    const lines = diffLines('a\nb\nc\n', 'a\nB\nc\nd\n');
    expect(lines).toEqual([
      { op: ' ', text: 'a' },
      { op: '-', text: 'b' },
      { op: '+', text: 'B' },
      { op: ' ', text: 'c' },
      { op: '+', text: 'd' },
    ]);
    expect(renderDiff(lines, 0)).toBe('-b\n+B\n...\n+d');
    expect(diffLines(undefined, 'x')).toEqual([{ op: '+', text: 'x' }]);
    expect(diffLines('x', undefined)).toEqual([{ op: '-', text: 'x' }]);
  });

  it("the schema's complaint is one line naming the paths", () => {
    const schema = compileSchema({
      type: 'object',
      properties: { port: { type: 'integer', maximum: 10 }, host: { type: 'string' } },
      required: ['host'],
    });
    if (!schema.ok) throw new Error(schema.reason);
    expect(schema.check({ host: 'h', port: 3 })).toBeUndefined();
    expect(schema.check({ port: 11 })).toBe(
      'host: required property missing; port: 11 is greater than 10',
    );
    expect(describeErrors([])).toBe('');
    expect(compileSchema('nope')).toEqual({
      ok: false,
      reason: expect.stringMatching(/not a JSON Schema/),
    });
  });

  it('rollout outcome: applied when the status reached the revision, rejected when it refused it', () => {
    const status = (revision: number, key: InstanceStatus['keys'][string]): InstanceStatus => ({
      serviceName: 's',
      instanceId: 'i',
      prefix: '/config/',
      shared: [],
      profiles: [],
      revision,
      keys: { 'k.json': key },
      registered: true,
    });
    const applied = { revision: 5, source: '/config/k.json', state: 'applied' as const };
    expect(outcome(status(4, { ...applied, revision: 3 }), '/config/k.json', 5)).toBeUndefined();
    expect(outcome(status(5, applied), '/config/k.json', 5)).toEqual({
      instanceId: 'i',
      state: 'applied',
      servedRevision: 5,
    });
    const rejected = {
      ...applied,
      revision: 3,
      state: 'rejected' as const,
      rejectedRevision: 5,
      reason: 'no',
    };
    expect(outcome(status(5, rejected), '/config/k.json', 5)).toMatchObject({
      state: 'rejected',
      reason: 'no',
    });
    expect(outcome(status(9, applied), '/other/k.json', 5)).toBeUndefined();
  });
});
