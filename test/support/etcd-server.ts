import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './free-port.js';
import { within } from './jest-helpers.js';
import { delay, diesWithParent, envWithout, runCommand } from './process-utils.js';
import { type TlsMaterial } from './tls-certs.js';

/** Options for {@link EtcdServer.start}. */
export interface StartEtcdOptions {
  /** Enable auth: a `root` user with this password is created and auth is turned on. */
  auth?: { rootPassword: string };
  /** Serve the client URL over https with the server cert and require client certs. */
  tls?: TlsMaterial;
  /** Extra flags passed to `etcd` as-is. */
  extraArgs?: string[];
  /** Member name; also used in the temp dir name. @default 'etcd-<random>' */
  name?: string;
}

/** Options for {@link EtcdServer.etcdctl}. */
export interface EtcdctlOptions {
  /** Run as this user instead of root (auth servers). */
  user?: string;
  password?: string;
  /** Written to etcdctl's stdin. */
  input?: string;
  /** @default 10000 */
  timeoutMs?: number;
}

/**
 * Fixed launch parameters of one etcd member.
 * @internal built by {@link EtcdServer.start} and {@link EtcdCluster.start}.
 */
export interface EtcdMemberConfig {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  initialCluster: string;
  clusterToken: string;
  tls?: TlsMaterial;
  auth?: { rootPassword: string };
  extraArgs: string[];
}

/** Thrown when etcd does not come up; `bindFailed` tells whether a port was taken. */
export class EtcdStartError extends Error {
  constructor(
    message: string,
    readonly bindFailed: boolean,
  ) {
    super(message);
    this.name = 'EtcdStartError';
  }
}

const STDERR_LINES = 50;
const START_TIMEOUT_MS = 20_000;

// ---- global safety net ------------------------------------------------------------------------

const liveProcesses = new Set<ChildProcess>();
let exitHookInstalled = false;

function killAllSync(): void {
  for (const child of liveProcesses) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  liveProcesses.clear();
}

function track(child: ChildProcess): void {
  liveProcesses.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Under jest `process` is a per-file copy whose 'exit' never fires; the --pdeathsig wrapper
    // below covers that case. Under plain node (bench, scripts) this hook does the job.
    process.on('exit', killAllSync);
  }
}

function untrack(child: ChildProcess): void {
  liveProcesses.delete(child);
  if (liveProcesses.size === 0 && exitHookInstalled) {
    exitHookInstalled = false;
    process.off('exit', killAllSync);
  }
}

// ---- etcdctl ----------------------------------------------------------------------------------

/** @internal shared by EtcdServer and EtcdCluster. */
export async function runEtcdctl(
  endpoints: string[],
  tls: TlsMaterial | undefined,
  rootPassword: string | undefined,
  args: string[],
  opts: EtcdctlOptions = {},
): Promise<string> {
  const env = envWithout('ETCDCTL_');
  env.ETCDCTL_API = '3';
  // --endpoints is a string slice: a second occurrence would append, not replace.
  const ownEndpoints = args.some(a => a === '--endpoints' || a.startsWith('--endpoints='));
  const flags = ownEndpoints ? [] : [`--endpoints=${endpoints.join(',')}`];
  flags.push('--dial-timeout=3s', '--command-timeout=8s');
  if (tls)
    flags.push(
      `--cacert=${tls.caFile}`,
      `--cert=${tls.clientCertFile}`,
      `--key=${tls.clientKeyFile}`,
    );
  const secrets: string[] = [];
  if (opts.user !== undefined) {
    flags.push(
      `--user=${opts.password !== undefined ? `${opts.user}:${opts.password}` : opts.user}`,
    );
    if (opts.password) secrets.push(opts.password);
  } else if (rootPassword !== undefined) {
    env.ETCDCTL_USER = `root:${rootPassword}`;
    if (rootPassword) secrets.push(rootPassword);
  }
  // Our flags first: a scalar flag repeated in `args` wins (pflag keeps the last value);
  // `--endpoints=...` in `args` replaces ours.
  const argv = [...flags, ...args];
  const res = await runCommand('etcdctl', argv, {
    env,
    input: opts.input,
    timeoutMs: opts.timeoutMs ?? 10_000,
  });
  if (res.code !== 0) {
    let msg = `etcdctl ${args.join(' ')} failed (${res.timedOut ? 'timed out' : `exit ${res.code ?? res.signal}`}): ${res.stderr.trim() || res.stdout.trim()}`;
    for (const s of secrets) msg = msg.split(s).join('***');
    throw new Error(msg);
  }
  return res.stdout;
}

/** Parses etcdctl JSON output, keeping 64-bit ids (member_id, leader, cluster_id) as strings. */
export function parseEtcdJson(text: string): unknown {
  return JSON.parse(text.replace(/(":\s*)(\d{16,})/g, '$1"$2"'));
}

interface JsonKv {
  key: string;
  value?: string;
  mod_revision?: number | string;
}

function b64(s: string | undefined): string {
  return Buffer.from(s ?? '', 'base64').toString('utf8');
}

// ---- EtcdServer -------------------------------------------------------------------------------

/**
 * A real `etcd` process on loopback free ports with a temp data dir. Also the type of each
 * {@link EtcdCluster} member. Always `dispose()` it (afterAll).
 *
 * @example
 * const etcd = await EtcdServer.start();
 * await etcd.put('config/app/a', '1');
 * await etcd.kill(); await etcd.restart();
 * await etcd.dispose();
 */
export class EtcdServer {
  readonly endpoint: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly name: string;
  /** Peer URL of this member. */
  readonly peerUrl: string;

  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stderrTail: string[] = [];
  private partialLine = '';
  private authActive = false;
  private disposed = false;

  /** @internal use {@link EtcdServer.start} or {@link EtcdCluster.start}. */
  constructor(private readonly config: EtcdMemberConfig) {
    this.name = config.name;
    this.clientPort = config.clientPort;
    this.peerPort = config.peerPort;
    this.dataDir = config.dataDir;
    this.endpoint = `${config.tls ? 'https' : 'http'}://127.0.0.1:${config.clientPort}`;
    this.peerUrl = `http://127.0.0.1:${config.peerPort}`;
  }

  /**
   * Starts a single-node etcd on free ports with a fresh temp data dir and waits until it is
   * healthy (and, with `auth`, until root exists and auth is enabled). Retries with fresh ports
   * up to 3 times when a port was grabbed by someone else in between.
   */
  static async start(opts: StartEtcdOptions = {}): Promise<EtcdServer> {
    const name = opts.name ?? `etcd-${Math.random().toString(36).slice(2, 8)}`;
    for (let attempt = 1; ; attempt++) {
      const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
      const dataDir = await mkdtemp(join(tmpdir(), `nest-etcd-${name}-`));
      const server = new EtcdServer({
        name,
        clientPort,
        peerPort,
        dataDir,
        initialCluster: `${name}=http://127.0.0.1:${peerPort}`,
        clusterToken: `${name}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
        tls: opts.tls,
        auth: opts.auth,
        extraArgs: opts.extraArgs ?? [],
      });
      try {
        server.launch();
        await server.waitHealthy();
        if (opts.auth) await server.enableAuth(opts.auth.rootPassword);
        return server;
      } catch (e) {
        await server.dispose();
        if (e instanceof EtcdStartError && e.bindFailed && attempt < 3) continue;
        throw e;
      }
    }
  }

  /** OS pid of the etcd process while it runs. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** True while the etcd process is alive. */
  get running(): boolean {
    const c = this.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Last lines etcd wrote to stderr (for error messages). */
  get stderr(): string {
    return [...this.stderrTail, this.partialLine].filter(Boolean).join('\n');
  }

  /** Whether this server has auth enabled (root credentials are used by the helpers). */
  get authEnabled(): boolean {
    return this.authActive;
  }

  /** TLS material the server was started with, if any. */
  get tls(): TlsMaterial | undefined {
    return this.config.tls;
  }

  /** @internal spawns the process without waiting. */
  launch(): void {
    if (this.disposed) throw new Error(`etcd ${this.name} was disposed`);
    if (this.running) throw new Error(`etcd ${this.name} is already running`);
    const c = this.config;
    const scheme = c.tls ? 'https' : 'http';
    const clientUrl = `${scheme}://127.0.0.1:${c.clientPort}`;
    const args = [
      `--name=${c.name}`,
      `--data-dir=${c.dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${this.peerUrl}`,
      `--initial-advertise-peer-urls=${this.peerUrl}`,
      `--initial-cluster=${c.initialCluster}`,
      `--initial-cluster-token=${c.clusterToken}`,
      '--initial-cluster-state=new',
      '--logger=zap',
      '--log-level=warn',
      '--log-outputs=stderr',
    ];
    if (c.tls) {
      args.push(
        `--cert-file=${c.tls.serverCertFile}`,
        `--key-file=${c.tls.serverKeyFile}`,
        '--client-cert-auth',
        `--trusted-ca-file=${c.tls.caFile}`,
      );
    }
    args.push(...c.extraArgs);
    // On Linux, `setpriv --pdeathsig SIGKILL` makes etcd die with its parent (even on SIGKILL).
    const [cmd, argv] = diesWithParent('etcd', args);
    this.stderrTail = [];
    this.partialLine = '';
    const child = spawn(cmd, argv, {
      env: envWithout('ETCD_', 'ETCDCTL_'),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    track(child);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => this.appendStderr(chunk));
    this.exited = new Promise<void>(resolve => {
      child.once('error', err => {
        this.appendStderr(`spawn failed: ${err.message}\n`);
        untrack(child);
        resolve();
      });
      child.once('close', () => {
        untrack(child);
        resolve();
      });
    });
  }

  private appendStderr(chunk: string): void {
    const lines = (this.partialLine + chunk).split('\n');
    this.partialLine = lines.pop() ?? '';
    this.stderrTail.push(...lines.filter(l => l.trim() !== ''));
    if (this.stderrTail.length > STDERR_LINES) {
      this.stderrTail.splice(0, this.stderrTail.length - STDERR_LINES);
    }
  }

  /** @internal polls `etcdctl endpoint health` until it succeeds; fails fast if etcd exits. */
  async waitHealthy(timeoutMs = START_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError = '';
    for (;;) {
      if (!this.running) {
        await this.exitedWithin(5_000, 'exit during startup');
        const log = this.stderr;
        throw new EtcdStartError(
          `etcd ${this.name} exited during startup (client ${this.clientPort}, peer ${this.peerPort}):\n${log}`,
          /address already in use|bind: /i.test(log),
        );
      }
      try {
        await this.etcdctl(['endpoint', 'health', '--dial-timeout=1s', '--command-timeout=2s'], {
          timeoutMs: 5_000,
        });
        return;
      } catch (e) {
        lastError = (e as Error).message;
      }
      if (Date.now() > deadline) {
        throw new EtcdStartError(
          `etcd ${this.name} not healthy after ${timeoutMs} ms: ${lastError}\n${this.stderr}`,
          false,
        );
      }
      await delay(100);
    }
  }

  private async enableAuth(rootPassword: string): Promise<void> {
    await this.etcdctl(['user', 'add', `root:${rootPassword}`, '--interactive=false']);
    await this.etcdctl(['auth', 'enable']);
    this.authActive = true;
  }

  /**
   * Runs `etcdctl` (API v3) against this server with TLS flags when needed and root
   * credentials when auth is on (unless `opts.user` is given). Resolves with stdout; rejects
   * with stderr in the message on a non-zero exit or after 10 s.
   */
  etcdctl(args: string[], opts: EtcdctlOptions = {}): Promise<string> {
    const rootPw = this.authActive ? this.config.auth?.rootPassword : undefined;
    return runEtcdctl([this.endpoint], this.config.tls, rootPw, args, opts);
  }

  /** Writes `key` = `value` (value sent on stdin, so any text is fine). */
  async put(key: string, value: string): Promise<void> {
    await this.etcdctl(['put', '--', key], { input: value });
  }

  /** The mod revision of one key (the revision of its last put); 0 when absent. */
  async modRevision(key: string): Promise<number> {
    const out = parseEtcdJson(await this.etcdctl(['get', '-w', 'json', '--', key])) as {
      kvs?: JsonKv[];
    };
    return Number(out.kvs?.[0]?.mod_revision ?? 0);
  }

  /** Reads one key; undefined when absent. */
  async get(key: string): Promise<string | undefined> {
    const out = parseEtcdJson(await this.etcdctl(['get', '-w', 'json', '--', key])) as {
      kvs?: JsonKv[];
    };
    const kv = out.kvs?.[0];
    return kv ? b64(kv.value) : undefined;
  }

  /** Reads every key under `prefix` (keys and values base64-decoded from JSON output). */
  async getPrefix(prefix: string): Promise<Map<string, string>> {
    const out = parseEtcdJson(
      await this.etcdctl(['get', '--prefix', '-w', 'json', '--', prefix]),
    ) as { kvs?: JsonKv[] };
    const map = new Map<string, string>();
    for (const kv of out.kvs ?? []) map.set(b64(kv.key), b64(kv.value));
    return map;
  }

  /** Deletes one key, or every key under it with `{ prefix: true }`. */
  async del(key: string, opts: { prefix?: boolean } = {}): Promise<void> {
    await this.etcdctl(['del', ...(opts.prefix ? ['--prefix'] : []), '--', key]);
  }

  /** Current store revision. */
  async revision(): Promise<number> {
    const out = parseEtcdJson(await this.etcdctl(['endpoint', 'status', '-w', 'json'])) as {
      Status?: { header?: { revision?: number | string } };
    }[];
    return Number(out[0]?.Status?.header?.revision ?? 0);
  }

  /** Compacts (physically) up to `revision`, default the current one. Already compacted is ok. */
  async compact(revision?: number): Promise<void> {
    const rev = revision ?? (await this.revision());
    try {
      await this.etcdctl(['compaction', '--physical', String(rev)]);
    } catch (e) {
      if (!/has been compacted/.test((e as Error).message)) throw e;
    }
  }

  /** Waits for the process (and its stderr pipe) to close; rejects after `ms` naming `what`. */
  private exitedWithin(ms: number, what: string): Promise<void> {
    return within(this.exited, ms, `etcd ${this.name} (pid ${this.child?.pid}) ${what}`);
  }

  /** SIGKILL; resolves once the process has exited (rejects if it has not within 10 s). */
  async kill(): Promise<void> {
    if (this.running) this.child?.kill('SIGKILL');
    await this.exitedWithin(10_000, 'exit after SIGKILL');
  }

  /** SIGTERM (SIGKILL after 5 s); resolves once the process has exited. */
  async stop(): Promise<void> {
    if (!this.running) return this.exitedWithin(10_000, 'exit');
    this.child?.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<void>(resolve => {
      timer = setTimeout(() => {
        if (this.running) this.child?.kill('SIGKILL');
        resolve();
      }, 5_000);
    });
    await Promise.race([this.exited, forced]);
    clearTimeout(timer);
    await this.exitedWithin(10_000, 'exit after SIGTERM then SIGKILL');
  }

  /** Starts again with the same ports and data dir (stopping first if running); waits healthy. */
  async restart(): Promise<void> {
    if (this.running) await this.stop();
    this.launch();
    await this.waitHealthy();
  }

  /** Kills the process if running and deletes the data dir. Idempotent. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.kill();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
