import { join } from 'node:path';
import { buildLibOnce } from './build-lib.js';
import type { EtcdServer } from './etcd-server.js';
import { waitFor } from './jest-helpers.js';
import { type CommandResult, runCommand } from './process-utils.js';

/**
 * A whole CLI story (child apps booting, a dozen CLI processes, --wait rounds) took over jest's 60 s
 * default on a loaded 2-core machine (load ~22): its own bound, for that machine. The child apps are
 * stopped by NodeChild.disposeAll() in afterEach, also when the story fails or times out.
 */
export const STORY_TIMEOUT_MS = 180_000;

/**
 * Waits until `count` instances of the `orders` fixture report, in their status keys, a schema for
 * limits.json (the CLI stories start once the fleet published what it accepts).
 */
export async function statusesReady(etcd: EtcdServer, count: number): Promise<void> {
  await waitFor(
    async () => {
      const statuses = [...(await etcd.getPrefix('/config-status/orders/')).values()].map(
        text => JSON.parse(text) as { keys: Record<string, { schema?: string }> },
      );
      return statuses.length === count && statuses.every(s => s.keys['limits.json']?.schema);
    },
    { timeout: 30_000, message: `${count} status keys with a schema for limits.json` },
  );
}

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
  // One run takes 1-3 s; 40 s is generous for a loaded machine and stays under jest's 60 s test
  // timeout, so a stuck run fails by its own message, not by jest's.
  const timeoutMs = options.timeoutMs ?? 40_000;
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
