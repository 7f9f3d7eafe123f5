import { spawn } from 'node:child_process';
import {
  accessSync,
  constants as fsConstants,
  readdirSync,
  readFileSync,
  readlinkSync,
} from 'node:fs';
import { delimiter, join } from 'node:path';

/** Result of {@link runCommand}. */
export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Options for {@link runCommand}. */
export interface RunCommandOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  /** @default 10000 */
  timeoutMs?: number;
}

/**
 * Runs a command to completion and collects its output; never rejects for a non-zero exit
 * (callers decide), only when the binary cannot be spawned. The timer is always cleared.
 */
export function runCommand(
  command: string,
  args: readonly string[],
  opts: RunCommandOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 10_000);
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    child.once('error', e => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

/** A copy of the environment without variables whose names start with one of `prefixes`. */
export function envWithout(...prefixes: string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!prefixes.some(p => k.startsWith(p))) env[k] = v;
  }
  return env;
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

/** Whether an executable named `binary` is in one of the `PATH` directories. */
export function onPath(binary: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, binary), fsConstants.X_OK);
      return true;
    } catch {
      // keep looking
    }
  }
  return false;
}

/**
 * On Linux with `setpriv` on PATH, children are wrapped in `setpriv --pdeathsig SIGKILL` so they die
 * with their parent (the jest worker), even when the parent is SIGKILLed.
 */
export const useSetpriv = process.platform === 'linux' && onPath('setpriv');

/**
 * The command and arguments that spawn `command args` so that it dies with this process: wrapped in
 * `setpriv --pdeathsig SIGKILL --` when {@link useSetpriv}, as-is otherwise.
 */
export function diesWithParent(command: string, args: readonly string[]): [string, string[]] {
  return useSetpriv
    ? ['setpriv', ['--pdeathsig', 'SIGKILL', '--', command, ...args]]
    : [command, [...args]];
}

/**
 * ESTABLISHED TCP connections from this process to local port `port` (IPv4 and IPv6): the socket
 * inodes in /proc/self/fd matched against /proc/self/net/tcp{,6}. Linux only (NaN elsewhere).
 */
export function establishedConnections(port: number): number {
  if (process.platform !== 'linux') return Number.NaN;
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let count = 0;
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '01' && cols[2]?.endsWith(hexPort) && inodes.has(cols[9] ?? '')) count++;
    }
  }
  return count;
}
