import { join } from 'node:path';
import { buildLibOnce } from './build-lib.js';
import { type CommandResult, runCommand } from './process-utils.js';

/** What {@link runNestEtcd} gives back: the exit code and output of one `nest-etcd` run. */
export interface CliRun extends CommandResult {
  /** The exit code (never null: a killed run fails the call). */
  exit: number;
}

/**
 * Runs the `nest-etcd` command as a user runs it: `node dist/cli/main.js` of the compiled
 * library (buildLibOnce), in its own process, with `env` over an environment without this
 * shell's etcd variables. Rejects when it does not end within `timeoutMs` (what it bounds is said).
 */
export async function runNestEtcd(
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; input?: string; timeoutMs?: number } = {},
): Promise<CliRun> {
  const bin = join(await buildLibOnce(), 'cli', 'main.js');
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' };
  for (const name of Object.keys(env)) if (name.startsWith('ETCD_')) delete env[name];
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  const timeoutMs = options.timeoutMs ?? 60_000;
  const result = await runCommand(process.execPath, [bin, ...args], {
    env,
    timeoutMs,
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
  if (result.timedOut || result.code === null) {
    throw new Error(
      `nest-etcd ${args.join(' ')} did not exit within ${timeoutMs} ms (bound of one CLI run)\n` +
        `stdout: ${result.stdout}\nstderr: ${result.stderr}`,
    );
  }
  return { ...result, exit: result.code };
}
