import { readFile } from 'node:fs/promises';
import { lastValueFrom, tap, toArray } from 'rxjs';
import type { PutResult, RolloutEvent } from '../admin/admin.interfaces.js';
import { EtcdAdmin } from '../admin/etcd-admin.js';
import { CliUsageError } from '../errors/cli-usage.error.js';
import { RolloutTimeoutError } from '../errors/rollout-timeout.error.js';
import { type CliArgs, parseCli, USAGE } from './cli-args.js';
import { exitCodeOf, EXIT } from './cli-exit-codes.js';
import {
  renderAudit,
  renderChanges,
  renderHistory,
  renderInstances,
  renderRolloutEvent,
  renderServices,
  renderStatus,
  renderValidation,
} from './cli-render.js';
import { renderDiff } from '../admin/text-diff.js';

/** Where the command reads and writes: the process, or a test's buffers. @internal */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Reads standard input (for `-f -`). */
  stdin(): Promise<string>;
}

/**
 * Runs one `nest-etcd` command line and resolves with its exit code (docs/cli.md): 0 ok / no
 * difference, 1 a difference or an instance rejected the change, 2 usage or validation error,
 * 3 etcd unreachable, authentication or permission refused, or timeout. Never throws.
 * @internal
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let args: CliArgs | 'help';
  try {
    args = parseCli(argv);
  } catch (err) {
    return report(err, io, argv.includes('json'));
  }
  if (args === 'help') {
    io.out(USAGE);
    return EXIT.ok;
  }
  const json = args.output === 'json';
  let admin: EtcdAdmin | undefined;
  try {
    const env = connectionEnv(args, io.env);
    admin = await EtcdAdmin.connect({
      env,
      connectTimeout: args.timeoutMs,
      ...(args.namespace !== undefined ? { namespace: args.namespace } : {}),
      ...(args.actor !== undefined ? { actor: args.actor } : {}),
    });
    return await runCommand(admin, args, io);
  } catch (err) {
    return report(err, io, json);
  } finally {
    await admin?.close();
  }
}

async function runCommand(admin: EtcdAdmin, args: CliArgs, io: CliIo): Promise<number> {
  const json = args.output === 'json';
  const print = (value: unknown, human: () => string) =>
    io.out(json ? JSON.stringify(value, null, 2) : human());
  const { service = '', key = '', dir = '' } = args.args;
  const keyOptions = args.profile !== undefined ? { profile: args.profile } : {};
  switch (args.command) {
    case 'services': {
      const services = await admin.services();
      print(services, () => renderServices(services));
      return EXIT.ok;
    }
    case 'instances': {
      const instances = await admin.instances(service);
      print(instances, () => renderInstances(instances));
      return EXIT.ok;
    }
    case 'status': {
      const statuses = await admin.status(service);
      print(statuses, () => renderStatus(statuses));
      return EXIT.ok;
    }
    case 'get': {
      const value = await admin.get(service, key, keyOptions);
      if (value.text === undefined) {
        if (json) io.out(JSON.stringify(value, null, 2));
        io.err(`${value.etcdKey}: no value`);
        return EXIT.different;
      }
      print(value, () => value.text!.replace(/\n$/, ''));
      return EXIT.ok;
    }
    case 'validate': {
      const text = await readValue(args.file!, io);
      const report = await admin.validate(service, key, text, keyOptions);
      print(report, () => renderValidation(report));
      return report.ok ? EXIT.ok : EXIT.usage;
    }
    case 'put': {
      const text = await readValue(args.file!, io);
      const result = await admin.put(service, key, text, {
        ...keyOptions,
        force: args.force,
        ...(args.expectRevision !== undefined ? { expectRevision: args.expectRevision } : {}),
      });
      if (!json) {
        io.out(
          `${result.etcdKey}: written at revision ${result.revision} (was ${result.previousRevision || 'absent'})`,
        );
        const unchecked = result.validation.instances.filter(i => i.noSchema && !i.shadowedBy);
        if (unchecked.length > 0) {
          io.out(
            `note: no schema published by ${unchecked.map(i => i.instanceId).join(', ')}: only the format was checked`,
          );
        }
        for (const v of result.validation.instances.filter(i => !i.ok)) {
          io.out(`warning: instance ${v.instanceId} will reject it (--force): ${v.reason ?? ''}`);
        }
        if (result.auditError) io.err(`warning: audit record not written: ${result.auditError}`);
      }
      return finishKeyWrite(admin, args, io, result);
    }
    case 'diff': {
      const report = await admin.diff(service, dir, { ...keyOptions, prune: args.prune });
      print(report, () => renderChanges(report.changes, true));
      return report.changed ? EXIT.different : EXIT.ok;
    }
    case 'apply': {
      const result = await admin.apply(service, dir, {
        ...keyOptions,
        prune: args.prune,
        dryRun: args.dryRun,
        force: args.force,
      });
      if (!json) {
        io.out(renderChanges(result.changes, false));
        io.out(
          args.dryRun
            ? 'dry run: nothing written'
            : result.revisions.length > 0
              ? `applied at revision ${result.revisions.join(', ')}`
              : 'nothing to apply',
        );
      }
      const written = result.changes
        .filter(c => c.action === 'create' || c.action === 'update')
        .map(c => [c.etcdKey, result.revision] as [string, number]);
      const forcedPast = !args.dryRun && result.validations.some(v => !v.ok);
      return finishWrite(admin, args, io, result, args.dryRun ? undefined : written, forcedPast);
    }
    case 'history': {
      const entries = await admin.history(service, key, {
        ...keyOptions,
        ...(args.limit !== undefined ? { limit: args.limit } : {}),
      });
      print(entries, () => renderHistory(entries));
      return EXIT.ok;
    }
    case 'rollback': {
      const result = await admin.rollback(service, key, Number(args.args.revision), {
        ...keyOptions,
        force: args.force,
      });
      if (!json) {
        io.out(renderDiff(result.diff) || '(same text)');
        io.out(
          `${result.etcdKey}: revision ${result.restoredRevision} restored at revision ${result.revision}`,
        );
      }
      return finishKeyWrite(admin, args, io, result);
    }
    case 'audit': {
      const records = await admin.audit(
        service,
        args.limit !== undefined ? { limit: args.limit } : {},
      );
      print(records, () => renderAudit(records));
      return EXIT.ok;
    }
  }
}

/** {@link finishWrite} of a put or rollback: one key written; forced when an instance will reject it. */
function finishKeyWrite(
  admin: EtcdAdmin,
  args: CliArgs,
  io: CliIo,
  result: PutResult,
): Promise<number> {
  const forced = result.validation.instances.some(i => !i.ok);
  return finishWrite(admin, args, io, result, [[result.etcdKey, result.revision]], forced);
}

/**
 * The end of a write (put, apply, rollback), the same for each: the rollout of `written` followed
 * when `--wait` was given (`undefined`: nothing was written, a dry run), the result (and the rollout)
 * printed as JSON with `-o json`, and the exit code of the whole ({@link outcome}).
 */
async function finishWrite(
  admin: EtcdAdmin,
  args: CliArgs,
  io: CliIo,
  result: object,
  written: Array<[string, number]> | undefined,
  forcedPastRejection: boolean,
): Promise<number> {
  const rollout = written ? await waitFor(admin, args, io, written) : undefined;
  if (args.output === 'json') {
    io.out(JSON.stringify({ result, ...(rollout ? { rollout: rollout.events } : {}) }, null, 2));
  }
  return outcome(rollout?.events, forcedPastRejection, rollout?.timeout);
}

/** Follows the rollout of each written key when `--wait` was given, printing each event as it comes. */
async function waitFor(
  admin: EtcdAdmin,
  args: CliArgs,
  io: CliIo,
  writes: Array<[string, number]>,
): Promise<
  { events: Array<RolloutEvent & { etcdKey: string }>; timeout?: RolloutTimeoutError } | undefined
> {
  if (args.waitMs === undefined) return undefined;
  const timeoutMs = args.waitMs;
  const many = writes.length > 1;
  const all = await Promise.all(
    writes.map(([etcdKey, revision]) =>
      lastValueFrom(
        admin.rollout$(args.args.service!, etcdKey, revision, { timeoutMs }).pipe(
          tap(event => {
            if (args.output !== 'json')
              io.out(renderRolloutEvent(event, many ? etcdKey : undefined));
          }),
          toArray(),
        ),
      ).then(events => ({ etcdKey, revision, events })),
    ),
  );
  const events = all.flatMap(w => w.events.map(e => ({ ...e, etcdKey: w.etcdKey })));
  const late = all.find(w => w.events.some(e => e.state === 'timeout'));
  if (args.output !== 'json' && events.length === 0) io.out('no instance reads this key');
  return {
    events,
    ...(late
      ? {
          timeout: new RolloutTimeoutError(
            late.etcdKey,
            late.revision,
            events.filter(e => e.state === 'timeout').map(e => e.instanceId),
            timeoutMs,
          ),
        }
      : {}),
  };
}

/** The exit code of a write: 1 when an instance rejected it (or will: forced), 3 on a timeout. */
function outcome(
  events: RolloutEvent[] | undefined,
  forcedPastRejection: boolean,
  timeout: RolloutTimeoutError | undefined,
): number {
  if (events?.some(e => e.state === 'rejected') || forcedPastRejection) return EXIT.different;
  if (timeout) return EXIT.unavailable;
  return EXIT.ok;
}

/** Prints an error as one line (and as JSON with `-o json`) and returns its exit code. */
function report(err: unknown, io: CliIo, json: boolean): number {
  const code = exitCodeOf(err);
  const message = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.name : 'Error';
  if (json) io.out(JSON.stringify({ error: { name, message, exitCode: code } }, null, 2));
  io.err(err instanceof CliUsageError ? message : `error: ${message}`);
  return code;
}

/** The file's text, or standard input for `-`. */
async function readValue(file: string, io: CliIo): Promise<string> {
  if (file === '-') return io.stdin();
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new CliUsageError(
      `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

/** The environment the module's resolver reads, with the flags applied over it. */
function connectionEnv(args: CliArgs, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  if (args.endpoints !== undefined) out.ETCD_HOSTS = args.endpoints;
  if (args.user !== undefined) {
    out.ETCD_USERNAME = args.user;
    if (!out.ETCD_PASSWORD) {
      throw new CliUsageError(`--user ${args.user} needs the password in env ETCD_PASSWORD`);
    }
  }
  if (args.caFile !== undefined) out.ETCD_CA_FILE = args.caFile;
  if (args.certFile !== undefined) out.ETCD_CERT_FILE = args.certFile;
  if (args.keyFile !== undefined) out.ETCD_KEY_FILE = args.keyFile;
  return out;
}
