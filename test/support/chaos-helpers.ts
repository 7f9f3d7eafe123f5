import 'reflect-metadata';
import { type INestApplication, type Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Etcd3 } from 'etcd3';
import { EtcdModule, type EtcdModuleOptions } from '../../lib/index.js';
import { EtcdCluster } from './etcd-cluster.js';
import { EtcdServer, type StartEtcdOptions } from './etcd-server.js';
import { LogCapture } from './log-capture.js';
import { TEST_RETRY, closeAll } from './nest-apps.js';
import { delay } from './process-utils.js';

/** Closes every app given (see nest-apps.ts). */
export { closeAll } from './nest-apps.js';

/** True when `CHAOS_PROFILE=long`: more iterations and longer phases (see docs/reliability.md). */
export const LONG_PROFILE = process.env.CHAOS_PROFILE === 'long';

/** Picks the CI value or the long-profile value. */
export function profile<T>(ci: T, long: T): T {
  return LONG_PROFILE ? long : ci;
}

/** Fast timings for chaos apps: quick reconnects, quick stall and keep-alive detection. */
export const FAST_TIMINGS: Pick<
  EtcdModuleOptions,
  'retry' | 'keepaliveInterval' | 'keepaliveTimeout' | 'watchStallTimeout' | 'connectTimeout'
> = {
  retry: TEST_RETRY,
  keepaliveInterval: 1000,
  keepaliveTimeout: 1000,
  watchStallTimeout: 5000,
  connectTimeout: 5000,
};

/**
 * etcd flags for servers that chaos apps talk to: FAST_TIMINGS pings every second, and etcd's default
 * `--grpc-keepalive-min-time` (5 s) answers that with GOAWAY "too many pings" (a dropped connection
 * that is not the fault under test).
 */
export const ETCD_ARGS = ['--grpc-keepalive-min-time=500ms'];

/** Boots a Nest app with `EtcdModule.forRoot(options)` (plus `providers`) and runs `init()`. */
export async function bootApp(
  options: EtcdModuleOptions,
  providers: Provider[] = [],
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [EtcdModule.forRoot(options)],
    providers,
  }).compile();
  const app = moduleRef.createNestApplication();
  try {
    await app.init();
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
  return app;
}

/** Resolves after `ms`: only to pace writers and to let time pass under a fault, never to synchronize. */
export const pause: (ms: number) => Promise<void> = delay;

/** Options of {@link useChaosSuite}. */
export interface ChaosSuiteOptions {
  /**
   * How to start the file's etcd (`extraArgs` are added after {@link ETCD_ARGS}), or a function
   * returning them (for options made in `beforeAll`, e.g. TLS material).
   */
  etcd?: StartEtcdOptions | (() => Promise<StartEtcdOptions>);
  /** Start a cluster of this many members (`EtcdCluster`, read as `cluster`) instead of one etcd. */
  clusterSize?: number;
}

/** What {@link useChaosSuite} gives a chaos spec; everything in it is released in `afterAll`. */
export interface ChaosSuite {
  /** The file's etcd (started in `beforeAll`; not with `clusterSize`). */
  readonly etcd: EtcdServer;
  /** The file's cluster (only with `clusterSize`). */
  readonly cluster: EtcdCluster;
  /** A plain etcd3 client on the etcd or cluster (made on first use), for writes behind the apps' backs. */
  readonly raw: Etcd3;
  /** Nest apps, closed first in `afterAll`. */
  readonly apps: INestApplication[];
  /** Anything else closed after the apps (TCP proxies, other clients). */
  readonly closables: Array<{ close(): unknown }>;
  /** Every log line of the file (installed in `beforeAll`, uninstalled last). */
  readonly logs: LogCapture;
}

/**
 * The hooks every chaos spec repeats: `beforeAll` installs the log capture, then starts etcd with
 * {@link ETCD_ARGS} (or a cluster); `afterAll` closes the apps, the closables and the raw client,
 * disposes etcd and uninstalls the capture. Call it directly inside `describe`; the spec's own
 * `beforeAll` (booting its app...) runs after this one, its `afterAll` after etcd is gone.
 *
 * @example
 * describe('chaos: NOSPACE', () => {
 *   const suite = useChaosSuite({ etcd: { extraArgs: ['--quota-backend-bytes=262144'] } });
 *   it('...', async () => {
 *     suite.apps.push(await bootApp({ hosts: suite.etcd.endpoint, ...FAST_TIMINGS }));
 *   });
 * });
 */
export function useChaosSuite(options: ChaosSuiteOptions = {}): ChaosSuite {
  let etcd: EtcdServer | undefined;
  let cluster: EtcdCluster | undefined;
  let raw: Etcd3 | undefined;
  const suite: ChaosSuite = {
    get etcd(): EtcdServer {
      if (!etcd) throw new Error('useChaosSuite: no etcd (read before beforeAll, or a cluster)');
      return etcd;
    },
    get cluster(): EtcdCluster {
      if (!cluster)
        throw new Error('useChaosSuite: no cluster (read before beforeAll, or no clusterSize)');
      return cluster;
    },
    get raw(): Etcd3 {
      raw ??= new Etcd3({ hosts: cluster ? cluster.hosts : suite.etcd.endpoint });
      return raw;
    },
    apps: [],
    closables: [],
    logs: new LogCapture(),
  };

  beforeAll(async () => {
    suite.logs.install();
    const given = typeof options.etcd === 'function' ? await options.etcd() : (options.etcd ?? {});
    const startOptions = { ...given, extraArgs: [...ETCD_ARGS, ...(given.extraArgs ?? [])] };
    if (options.clusterSize) cluster = await EtcdCluster.start(options.clusterSize, startOptions);
    else etcd = await EtcdServer.start(startOptions);
  });
  afterAll(async () => {
    await closeAll(suite.apps);
    await Promise.all(suite.closables.splice(0).map(c => c.close()));
    raw?.close();
    await cluster?.dispose();
    await etcd?.dispose();
    suite.logs.uninstall();
  });
  return suite;
}
