import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runEtcdctl } from '../../support/etcd-server.js';
import { envWithout, runCommand } from '../../support/process-utils.js';
import { freePorts, waitFor, within } from '../../support/index.js';

/**
 * The README's way: `npm start` in a terminal (scripts/start-sample.sh starts etcd with
 * scripts/etcd.sh, then `nest start`), then Ctrl-C, i.e. SIGINT to the terminal's foreground
 * process group. The app must deregister at once (shutdown hooks), and the etcd that `npm start`
 * started must survive until `npm run etcd -- stop`.
 *
 * etcd runs on free ports with its state in a temp dir (ETCD_HOSTS, NEST_ETCD_PEER_PORT,
 * NEST_ETCD_STATE_DIR), so the test never touches a developer's etcd on 2379.
 */

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** `nest start` compiles the sample and the library first: generous on a loaded 2-core machine. */
const FIRST_ANSWER_TIMEOUT = 150_000;

/** True while at least one process of the process group `pgid` is alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start, then Ctrl-C in its terminal', () => {
  let stateDir: string;
  let env: NodeJS.ProcessEnv;
  let endpoint: string;
  let npmStart: ChildProcess | undefined;
  let output = '';
  let passed = false;

  const etcdctl = (args: string[]): Promise<string> =>
    runEtcdctl([endpoint], undefined, undefined, args);
  const etcdScript = (command: string) =>
    runCommand('bash', [join(REPO_ROOT, 'scripts', 'etcd.sh'), command], {
      env,
      cwd: REPO_ROOT,
      timeoutMs: 30_000,
    });
  const etcdPid = async (): Promise<number> =>
    Number((await readFile(join(stateDir, 'etcd.pid'), 'utf8')).trim());

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'nest-etcd-npm-start-'));
    const [clientPort, peerPort, appPort] = (await freePorts(3)) as [number, number, number];
    endpoint = `http://127.0.0.1:${clientPort}`;
    env = {
      ...envWithout('ETCD', 'NODE_OPTIONS', 'npm_'),
      ETCD_HOSTS: endpoint,
      NEST_ETCD_PEER_PORT: String(peerPort),
      NEST_ETCD_STATE_DIR: stateDir,
      PORT: String(appPort),
      SAMPLE_HOST: '127.0.0.1',
      SAMPLE_INSTANCE_ID: `npm-start-${process.pid}`,
      SAMPLE_SNAPSHOT_FILE: join(stateDir, 'sample.snapshot.json'),
      NO_COLOR: '1',
    };
  });

  afterAll(async () => {
    const pgid = npmStart?.pid;
    if (pgid !== undefined && groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
    if (stateDir) {
      await etcdScript('stop');
      const pid = await etcdPid().catch(() => undefined);
      if (pid !== undefined && pidAlive(pid)) process.kill(pid, 'SIGKILL');
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  afterEach(() => {
    if (!passed) console.log(`--- npm start output ---\n${output}`);
  });

  it(
    'keeps etcd running and deregisters the app at once; etcd stops with npm run etcd -- stop',
    async () => {
      const appUrl = `http://127.0.0.1:${env.PORT}`;
      const instanceKey = `/services/sample/${env.SAMPLE_INSTANCE_ID}`;
      // detached: its own process group, as a shell runs a foreground job.
      const child = spawn('npm', ['start'], {
        cwd: REPO_ROOT,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      npmStart = child;
      child.stdout?.on('data', (c: Buffer) => (output += c.toString('utf8')));
      child.stderr?.on('data', (c: Buffer) => (output += c.toString('utf8')));
      const exited = new Promise<void>(resolve => child.once('exit', () => resolve()));
      const pgid = child.pid!;

      const first = await waitFor(
        async () => {
          // npm start ended (e.g. a compile error): fail now, not at the timeout.
          if (child.exitCode !== null || child.signalCode !== null) return 'exited';
          const res = await fetch(`${appUrl}/health`, { signal: AbortSignal.timeout(2_000) });
          const body = (await res.json()) as {
            status?: string;
            details?: { etcd?: { instanceId?: string } };
          };
          return body.status === 'ok' && body.details?.etcd?.instanceId === env.SAMPLE_INSTANCE_ID
            ? 'healthy'
            : undefined;
        },
        {
          timeout: FIRST_ANSWER_TIMEOUT,
          interval: 250,
          message: 'the sample started by npm start answering healthy on /health',
        },
      );
      if (first === 'exited') {
        throw new Error(
          `npm start exited (${child.exitCode ?? child.signalCode}) before answering`,
        );
      }
      expect(await etcdctl(['get', '--print-value-only', instanceKey])).toContain(
        `"port":${env.PORT}`,
      );
      const pid = await etcdPid();
      expect(pidAlive(pid)).toBe(true);

      // Ctrl-C: SIGINT to every process of the terminal's foreground process group.
      process.kill(-pgid, 'SIGINT');
      await within(exited, 30_000, 'npm start exit after SIGINT');
      await waitFor(() => !groupAlive(pgid), {
        timeout: 30_000,
        message: 'every process of npm start gone after SIGINT',
      }).catch(async (e: Error) => {
        const ps = await runCommand('ps', ['-o', 'pid,stat,args', '-g', String(pgid)]);
        throw new Error(`${e.message}; still running:\n${ps.stdout}`);
      });

      // At once, not after the lease's TTL (10 s): the app revoked its lease on the way out.
      expect(await etcdctl(['get', '--prefix', '--keys-only', '/services/sample/'])).toBe('');
      expect(output).toContain('deregistered sample');
      // The etcd npm start launched is still there, same process, answering.
      expect(pidAlive(pid)).toBe(true);
      await etcdctl(['endpoint', 'health']);
      await etcdctl(['put', '/npm-start/alive', 'yes']);

      const stopped = await etcdScript('stop');
      expect(stopped.code).toBe(0);
      expect(stopped.stdout).toContain(`stopped etcd (pid ${pid})`);
      await waitFor(() => !pidAlive(pid), { timeout: 10_000, message: 'etcd gone after stop' });
      const status = await etcdScript('status');
      expect(status.code).toBe(1);
      expect(status.stdout).toContain('not healthy');
      passed = true;
    },
    FIRST_ANSWER_TIMEOUT + 120_000,
  );
});
