import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EtcdServer, freePort, waitFor, within } from '../../support/index.js';

/**
 * The sample app as a user runs it: compiled with tsc, started as two real processes (PORT,
 * ETCD_HOSTS, SAMPLE_SNAPSHOT_FILE from the environment) against a real etcd, driven over HTTP and
 * with etcdctl as the outside writer.
 */

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const execFileAsync = promisify(execFile);

interface Hello {
  greeting: string;
  instanceId: string;
  port: number;
  rateLimit: number;
}
interface Instance {
  instanceId: string;
  host: string;
  port: number;
}
interface CallResult {
  from: string;
  target: { instanceId: string; url: string };
  response: Hello;
}

/** One running sample app process. */
class SampleProcess {
  private output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly name: string,
    readonly port: number,
    readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8')));
    this.exited = new Promise(resolve =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  static start(name: string, mainJs: string, env: NodeJS.ProcessEnv, port: number): SampleProcess {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, PORT: String(port) };
    delete childEnv.NODE_OPTIONS; // jest's --experimental-vm-modules is not for the app
    childEnv.NO_COLOR = '1';
    const child = spawn(process.execPath, [mainJs], {
      cwd: REPO_ROOT,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new SampleProcess(name, port, child);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get logs(): string {
    return this.output;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async json<T>(path: string, init?: RequestInit): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.url}${path}`, { ...init, signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: (await res.json()) as T };
  }

  async get<T>(path: string): Promise<T> {
    const { status, body } = await this.json<T>(path);
    if (status !== 200)
      throw new Error(`${this.name} GET ${path}: HTTP ${status} ${JSON.stringify(body)}`);
    return body;
  }

  /**
   * Resolves once this process's /health says connected and registered; rejects with its logs if it
   * exits first.
   */
  async waitHealthy(instanceId: string, timeout = 20_000): Promise<void> {
    let exited = false;
    void this.exited.then(() => (exited = true));
    await waitFor(
      async () => {
        if (exited) return true;
        const { body } = await this.json<{
          status: string;
          details?: { etcd?: { instanceId?: string } };
        }>('/health');
        // Make sure it is this process answering, not another one on a recycled port.
        return body.status === 'ok' && body.details?.etcd?.instanceId === instanceId;
      },
      { timeout, interval: 100, message: `${this.name} did not become healthy` },
    );
    if (exited) throw new Error(`${this.name} exited during startup:\n${this.logs}`);
  }

  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }
}

/** Reads /events until an event matches; aborts the request either way. */
async function nextSseEvent(
  url: string,
  predicate: (type: string, data: unknown) => boolean,
  opened: () => Promise<void>,
  timeoutMs = 10_000,
): Promise<{ type: string; data: unknown }> {
  const abort = new AbortController();
  const timer = setTimeout(
    () => abort.abort(new Error(`no matching event within ${timeoutMs} ms`)),
    timeoutMs,
  );
  try {
    const res = await fetch(url, {
      signal: abort.signal,
      headers: { accept: 'text/event-stream' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let triggered = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('event stream ended before a matching event');
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const type = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
        const dataLines = [...block.matchAll(/^data: (.*)$/gm)].map(m => m[1]);
        const data: unknown = dataLines.length ? JSON.parse(dataLines.join('\n')) : undefined;
        if (triggered && predicate(type, data)) {
          await reader.cancel();
          return { type, data };
        }
      }
      // The first event (the current instance list) proves the stream is subscribed: now act.
      if (!triggered) {
        triggered = true;
        await opened();
      }
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

/** The part of a config status key (docs/cli.md) these tests read. */
interface StatusJson {
  keys: Record<string, { revision: number; schema?: string } | undefined>;
}

describe('sample app (two processes, real etcd)', () => {
  let etcd: EtcdServer;
  let workDir: string;
  let mainJs: string;
  let a: SampleProcess;
  let b: SampleProcess;

  beforeAll(async () => {
    // Compiled inside the repo (node_modules/.cache) so the app resolves @nestjs/*, etcd3, ...;
    // one directory per run, so parallel runs and `nest start` (dist-sample/) never collide.
    workDir = join(
      REPO_ROOT,
      'node_modules',
      '.cache',
      'nest-etcd-sample-e2e',
      `${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    );
    await mkdir(workDir, { recursive: true });
    const [server] = await Promise.all([
      EtcdServer.start(),
      execFileAsync(
        process.execPath,
        [
          join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
          '-p',
          join(REPO_ROOT, 'sample-app', 'tsconfig.app.json'),
          '--outDir',
          join(workDir, 'dist'),
          '--sourceMap',
          'false',
        ],
        { cwd: REPO_ROOT, timeout: 45_000 },
      ),
      writeFile(join(workDir, 'package.json'), '{ "type": "module" }\n'),
    ]);
    etcd = server;
    mainJs = join(workDir, 'dist', 'sample-app', 'src', 'main.js');
    // One after the other: b asks for a free port while a holds its own, so they never share one.
    a = await startSample('a');
    b = await startSample('b');
    // Above the sum of the named bounds inside (tsc 45 s, each start's health wait stretched to
    // 40 s on a loaded machine), so a slow step fails by its own message, not by jest's timeout.
  }, 150_000);

  /** Starts one instance on a free port; picks another port if someone else took it meanwhile. */
  async function startSample(name: 'a' | 'b'): Promise<SampleProcess> {
    const env: NodeJS.ProcessEnv = {
      ETCD_HOSTS: etcd.endpoint,
      SAMPLE_HOST: '127.0.0.1',
      SAMPLE_INSTANCE_ID: `sample-${name}`,
      SAMPLE_SNAPSHOT_FILE: join(workDir, `${name}.snapshot.json`),
      // the leader-only report job every second instead of every 10 s
      SAMPLE_REPORT_CRON: '* * * * * *',
    };
    for (let attempt = 1; ; attempt++) {
      const app = SampleProcess.start(name, mainJs, env, await freePort());
      try {
        await app.waitHealthy(`sample-${name}`);
        return app;
      } catch (err) {
        app.kill();
        await within(app.exited, 10_000, `sample ${name} exit after SIGKILL`);
        if (attempt >= 3 || !app.logs.includes('EADDRINUSE')) throw err;
      }
    }
  }

  afterAll(async () => {
    for (const app of [a, b]) app?.kill();
    await within(Promise.all([a?.exited, b?.exited]), 10_000, 'sample apps exit after SIGKILL');
    await etcd?.dispose();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  afterEach(() => {
    // On failure, the apps' logs are the first thing one wants to read.
    const state = expect.getState();
    if (state.assertionCalls !== state.numPassingAsserts) {
      for (const app of [a, b]) console.log(`--- ${app.name} logs ---\n${app.logs}`);
    }
  });

  it('serves the default greeting and its own instance id', async () => {
    await expect(a.get<Hello>('/')).resolves.toEqual({
      greeting: 'Hello',
      instanceId: 'sample-a',
      port: a.port,
      rateLimit: 100,
    });
    expect((await b.get<Hello>('/')).instanceId).toBe('sample-b');
  });

  it('changes the greeting live when etcdctl writes it, and streams the change as an event', async () => {
    const event = await nextSseEvent(
      `${b.url}/events`,
      (type, data) => type === 'config' && (data as { key?: string }).key === 'greeting',
      () => etcd.put('/config/sample/greeting', 'Hola'),
    );
    expect(event.data).toMatchObject({ key: 'greeting', value: 'Hola', type: 'put' });
    for (const app of [a, b]) {
      await waitFor(async () => (await app.get<Hello>('/')).greeting === 'Hola', {
        timeout: 5000,
        message: `${app.name} kept the old greeting`,
      });
    }
  });

  it('shows a JSON greeting as JSON text, not [object Object]', async () => {
    await etcd.put('/config/sample/greeting', '{"text":"Hallo","lang":"de"}');
    await waitFor(async () => (await a.get<Hello>('/')).greeting !== 'Hola', {
      timeout: 5000,
      message: 'a shows the JSON greeting',
    });
    expect((await a.get<Hello>('/')).greeting).toBe('{"text":"Hallo","lang":"de"}');
    await etcd.put('/config/sample/greeting', 'Hola');
    for (const app of [a, b]) {
      await waitFor(async () => (await app.get<Hello>('/')).greeting === 'Hola', {
        timeout: 5000,
        message: `${app.name} shows Hola again`,
      });
    }
  });

  it('sets config over HTTP, validating the schema-checked rateLimit', async () => {
    const ok = await a.json('/config/rateLimit', {
      method: 'PUT',
      headers: { 'content-type': 'text/plain' },
      body: '250',
    });
    expect(ok.status).toBe(200);
    await waitFor(async () => (await b.get<Hello>('/')).rateLimit === 250, { timeout: 5000 });
    expect(await etcd.get('/config/sample/rateLimit')).toBe('250');
    await waitFor(() => b.logs.includes('rateLimit changed: 100 -> 250'), { timeout: 5000 });

    const bad = await a.json<{ message: string }>('/config/rateLimit', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '"lots"',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('rateLimit must be a positive integer');
    expect(await etcd.get('/config/sample/rateLimit')).toBe('250');

    // The schema the instances validate with is published; each one's status references it.
    const statuses = (await waitFor(
      async () => {
        const found = await etcd.getPrefix('/config-status/sample/');
        const all = [...found.values()].map(text => JSON.parse(text) as StatusJson);
        return all.length === 2 && all.every(st => st.keys.rateLimit?.revision) ? all : undefined;
      },
      { timeout: 5000, message: 'no config status with rateLimit for both instances' },
    ))!;
    const schemas = await etcd.getPrefix('/config-schemas/');
    expect([...schemas.keys()]).toEqual(
      statuses.map(st => `/config-schemas/${st.keys.rateLimit!.schema}`).slice(0, 1),
    );
    expect(new Set(statuses.map(st => st.keys.rateLimit!.schema)).size).toBe(1);

    // Written behind the app's back: every instance rejects it and keeps the last good value.
    await etcd.put('/config/sample/rateLimit', '-5');
    await waitFor(() => b.logs.includes('"rateLimit" at revision'), { timeout: 5000 });
    expect((await b.get<Hello>('/')).rateLimit).toBe(250);

    await a.json('/config/banner', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"color":"blue"}',
    });
    await waitFor(
      async () => (await b.get<Record<string, unknown>>('/config')).banner !== undefined,
      { timeout: 5000 },
    );
    expect(await b.get<Record<string, unknown>>('/config')).toEqual({
      banner: { color: 'blue' },
      greeting: 'Hola',
      rateLimit: -5,
    });
  });

  it('lists both instances and load-balances /call round-robin across them', async () => {
    const ids = (list: Instance[]) => list.map(i => i.instanceId).sort();
    await waitFor(async () => ids(await a.get<Instance[]>('/instances/sample')).length === 2, {
      timeout: 5000,
    });
    const list = await a.get<Instance[]>('/instances/sample');
    expect(ids(list)).toEqual(['sample-a', 'sample-b']);
    expect(list.map(i => i.port).sort()).toEqual([a.port, b.port].sort());

    const targets: string[] = [];
    for (let i = 0; i < 4; i++) {
      const call = await a.get<CallResult>('/call/sample');
      expect(call.from).toBe('sample-a');
      // The answer comes from the chosen instance itself.
      expect(call.response.instanceId).toBe(call.target.instanceId);
      targets.push(call.target.instanceId);
    }
    expect(new Set(targets)).toEqual(new Set(['sample-a', 'sample-b']));
    for (let i = 1; i < targets.length; i++) expect(targets[i]).not.toBe(targets[i - 1]);

    const none = await a.json<{ message: string }>('/call/nobody');
    expect(none.status).toBe(503);
  });

  it('GET /health (terminus) reports etcd up and the registration; GET /metrics has nest_etcd_*', async () => {
    const health = await a.json<{
      status: string;
      details: Record<string, Record<string, unknown>>;
    }>('/health');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
    expect(health.body.details.etcd).toMatchObject({
      status: 'up',
      connected: true,
      registration: 'registered',
      instanceId: 'sample-a',
    });
    const metrics = await within(
      fetch(`${a.url}/metrics`).then(res => res.text()),
      10_000,
      'sample-a answered /metrics',
    );
    expect(metrics).toContain('nest_etcd_connected 1');
    expect(metrics).toContain('nest_etcd_registration_status{status="registered"} 1');
    expect(metrics).toMatch(/^# HELP nest_etcd_leader /m);
  });

  it('mounts the etcd console at /etcd: read-write, loopback only (said on the page), listing both instances', async () => {
    const res = await fetch(`${a.url}/etcd/services/sample`, { signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('read-write');
    expect(page).toContain('answers loopback addresses only');
    expect(page).toContain('data-instance="sample-a"');
    expect(page).toContain('data-instance="sample-b"');
  });

  it('runs the leader-only report job on exactly one instance', async () => {
    type Leader = { leading: boolean; leader: string | null; runs: number };
    const [la, lb] = (await waitFor(
      async () => {
        const both = [await a.get<Leader>('/leader'), await b.get<Leader>('/leader')];
        return both.some(l => l.leading && l.runs >= 2) ? both : undefined;
      },
      {
        timeout: 15_000,
        interval: 200,
        message: 'no instance led the report job and ran it twice',
      },
    )) as [Leader, Leader];
    expect([la.leading, lb.leading].filter(Boolean)).toHaveLength(1);
    const follower = la.leading ? lb : la;
    expect(follower.runs).toBe(0);
    expect(la.leader).toBe(lb.leader);
    expect(la.leader).toBe(la.leading ? 'sample-a' : 'sample-b');
  });

  it('deregisters on SIGTERM: the other instance stops listing it', async () => {
    b.child.kill('SIGTERM');
    // Nest's shutdown hooks re-raise the signal once the app is closed, so the exit is by SIGTERM.
    expect(await within(b.exited, 15_000, 'sample b exit after SIGTERM')).toEqual({
      code: null,
      signal: 'SIGTERM',
    });
    expect(b.logs).toContain('deregistered sample');
    // Whoever led the report job before, sample-a leads it now (b resigned on shutdown).
    await waitFor(async () => (await a.get<{ leading: boolean }>('/leader')).leading, {
      timeout: 5000,
      message: 'sample-a did not lead the report job after b stopped',
    });
    // Lease revoked on shutdown: gone at once, not after the 10 s TTL.
    expect([...(await etcd.getPrefix('/services/sample/')).keys()]).toEqual([
      '/services/sample/sample-a',
    ]);
    await waitFor(async () => (await a.get<Instance[]>('/instances/sample')).length === 1, {
      timeout: 5000,
      message: 'a still lists b',
    });
    expect((await a.get<Instance[]>('/instances/sample')).map(i => i.instanceId)).toEqual([
      'sample-a',
    ]);
    const call = await a.get<CallResult>('/call/sample');
    expect(call.target.instanceId).toBe('sample-a');
  });
});
