import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EtcdServer, TcpProxy, waitFor, within, expectDuration } from '../support/index.js';
import { buildLibOnce, libEntry } from '../support/build-lib.js';
import { ETCD_ARGS } from '../support/chaos-helpers.js';

/**
 * After `app.close()` while etcd is blackholed, nothing of the library may keep
 * the process alive (the watch stream's socket used to wait for gRPC's keep-alive, ~6 s more).
 */

const CLOSE_APP = fileURLToPath(new URL('../fixtures/transport/close-app.mjs', import.meta.url));
/** The process has nothing left to do once close() resolved: it exits at once. */
const EXIT_BOUND_MS = 1_500;

describe('chaos: process exit after close under a blackhole', () => {
  let etcd: EtcdServer;
  let proxy: TcpProxy;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    etcd = await EtcdServer.start({ extraArgs: ETCD_ARGS });
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: etcd.clientPort });
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise(resolve => child!.once('exit', resolve));
      child.kill('SIGKILL');
      await within(exited, 10_000, 'close-app exit after SIGKILL');
    }
    await proxy?.close();
    await etcd?.dispose();
  });

  it(`exits within ${EXIT_BOUND_MS} ms after app.close() resolved, etcd blackholed`, async () => {
    const lib = libEntry(await buildLibOnce());
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_OPTIONS: '',
      NEST_ETCD_LIB: lib,
      ETCD_HOSTS: proxy.endpoint,
    };
    delete env.ETCD_USERNAME;
    delete env.ETCD_PASSWORD;
    const proc = spawn(process.execPath, [CLOSE_APP], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let output = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number>(resolve => proc.once('exit', () => resolve(Date.now())));

    await waitFor(() => output.includes('READY'), {
      timeout: 30_000,
      message: `close-app READY (output so far: ${output})`,
    });
    proxy.blackhole();
    proc.kill('SIGUSR2');
    await waitFor(() => /CLOSED \d+/.test(output), {
      timeout: 15_000,
      message: 'close-app CLOSED line',
    });
    const closedAt = Date.now();
    const exitedAt = await within(exited, 15_000, 'close-app exit after close');
    const lingered = exitedAt - closedAt;
    console.log(
      `exit after close (blackholed): close() took ${/CLOSED (\d+)/.exec(output)?.[1]} ms, ` +
        `the process exited ${lingered} ms later`,
    );
    expect(output).not.toContain('CLOSE-FAILED');
    expectDuration(lingered, EXIT_BOUND_MS, 'process exit after app.close() with etcd blackholed');
  }, 90_000);
});
