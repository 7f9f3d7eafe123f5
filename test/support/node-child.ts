import { type ChildProcess, spawn } from 'node:child_process';
import { buildLibOnce, libEntry } from './build-lib.js';
import { slackened, within } from './jest-helpers.js';
import { diesWithParent } from './process-utils.js';

/** How a {@link NodeChild} ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The environment of a child-process app that loads the compiled library: `ETCD_HOSTS`,
 * `NEST_ETCD_LIB` (see {@link buildLibOnce}), no `NODE_OPTIONS` from jest, no etcd credentials of
 * this shell; then `extra` on top (an `undefined` value removes the variable).
 */
export async function libChildEnv(
  hosts: string,
  extra: Record<string, string | undefined> = {},
): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_OPTIONS: '',
    ETCD_HOSTS: hosts,
    NEST_ETCD_LIB: libEntry(await buildLibOnce()),
  };
  delete env.ETCD_USERNAME;
  delete env.ETCD_PASSWORD;
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

const live = new Set<NodeChild>();

/**
 * A Node script (a fixture app) in its own process that dies with the jest worker: its stdout
 * lines are collected, {@link waitForLine} waits for one (event-driven, bounded), and
 * {@link dispose} kills it. Launchers in test/fixtures extend it; always dispose every child
 * (afterEach/afterAll), or call `disposeAll()` on the launcher class.
 */
export class NodeChild {
  /** Every non-empty stdout line so far (trimmed). */
  readonly lines: string[] = [];
  /** Resolves when the process has exited. */
  readonly exited: Promise<ChildExit>;
  private stderr = '';
  private partial = '';
  private readonly waiters = new Set<() => void>();
  private readonly child: ChildProcess;

  /**
   * Spawns `node script` with `env`. `label` names the child in failure messages
   * (e.g. `child app`, `echo app`).
   */
  protected constructor(
    script: string,
    env: NodeJS.ProcessEnv,
    private readonly label: string,
  ) {
    const [cmd, args] = diesWithParent(process.execPath, [script]);
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(this);
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.onStdout(chunk));
    child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise(resolve => {
      child.once('exit', (code, signal) => {
        live.delete(this);
        this.notify();
        resolve({ code, signal });
      });
    });
  }

  /** Kills every child of this class (and its subclasses) still running (SIGKILL). */
  static async disposeAll(): Promise<void> {
    await Promise.all([...live].filter(c => c instanceof this).map(c => c.dispose()));
  }

  /** OS pid. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** stdout lines and stderr so far (for failure messages). */
  get log(): string {
    return `${this.lines.join('\n')}\n${this.stderr}`;
  }

  /** Sends a signal (SIGTERM for a graceful shutdown, SIGKILL for a crash). */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /**
   * Waits for a stdout line matching `predicate` (lines already printed count); rejects when the
   * child exits first or after `timeout` ms (a number or `{ timeout }`). @default 10000
   */
  waitForLine(
    predicate: (line: string) => boolean,
    timeout: number | { timeout?: number } = 10_000,
  ): Promise<string> {
    // stretched on a loaded machine like every event-driven wait (jest-helpers.ts, WAIT_SLACK)
    const timeoutMs = slackened(
      typeof timeout === 'number' ? timeout : (timeout.timeout ?? 10_000),
    );
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = this.lines.find(predicate);
        if (line !== undefined) return done(() => resolve(line));
        if (!this.running) {
          done(() =>
            reject(new Error(`${this.label} exited before the expected line:\n${this.log}`)),
          );
        }
      };
      const timer = setTimeout(
        () =>
          done(() =>
            reject(
              new Error(
                `${this.label} did not print the expected line within ${timeoutMs} ms:\n${this.log}`,
              ),
            ),
          ),
        timeoutMs,
      );
      const done = (outcome: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        outcome();
      };
      this.waiters.add(check);
      check();
    });
  }

  /**
   * For launchers: waits for the child's ready line like {@link waitForLine}; if it does not come,
   * kills the child before rethrowing, so a launcher never leaks a child that failed to start.
   */
  protected async readyLine(
    predicate: (line: string) => boolean,
    timeoutMs: number,
  ): Promise<string> {
    try {
      return await this.waitForLine(predicate, timeoutMs);
    } catch (err) {
      await this.dispose();
      throw err;
    }
  }

  /** Kills the process (SIGKILL) when it still runs and waits (bounded) for it to exit. */
  async dispose(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await within(this.exited, 10_000, `${this.label} (pid ${this.child.pid}) exit after SIGKILL`);
  }

  private onStdout(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) if (line.trim() !== '') this.lines.push(line.trim());
    this.notify();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/**
 * A child app that registers itself in etcd and then prints `READY <port> <instanceId>`
 * (test/fixtures/discovery/echo-app.mjs, test/fixtures/registry/child-app.mjs).
 */
export class RegisteredChild extends NodeChild {
  /** Registered port (from the `READY` line). */
  port = 0;
  /** Registered instance id (from the `READY` line). */
  instanceId = '';

  /** Waits (bounded) for `READY <port> <instanceId>` and records both; see {@link readyLine}. */
  protected async registered(timeoutMs: number): Promise<this> {
    const [, port, instanceId] = (
      await this.readyLine(line => line.startsWith('READY '), timeoutMs)
    ).split(' ');
    this.port = Number(port);
    this.instanceId = instanceId ?? '';
    return this;
  }
}
