import type { INestApplicationContext } from '@nestjs/common';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLibOnce } from './build-lib.js';
import { EtcdServer, type StartEtcdOptions } from './etcd-server.js';
import { closeAll } from './nest-apps.js';
import { NodeChild } from './node-child.js';

/** Options of {@link useEtcdSuite}. */
export interface EtcdSuiteOptions {
  /** How to start the suite's etcd (`EtcdServer.start`). */
  etcd?: StartEtcdOptions;
  /** Also compile lib/ for child-process apps (`buildLibOnce()`), while etcd starts. */
  buildLib?: boolean;
  /** Before each test: restart etcd if the previous test stopped it. */
  restartIfStopped?: boolean;
  /** Before each test: delete every key under this prefix. */
  clearPrefix?: string;
}

/** What {@link useEtcdSuite} gives a spec; everything in it is released by the hooks. */
export interface EtcdSuite {
  /** The suite's etcd (read it inside hooks and tests: it starts in `beforeAll`). */
  readonly etcd: EtcdServer;
  /** Nest apps to close after each test (`closeAll`). */
  readonly apps: INestApplicationContext[];
  /** Anything else to close after each test, after the apps (TCP proxies, loopback servers). */
  readonly closables: Array<{ close(): Promise<unknown> }>;
}

/**
 * Registers the hooks every etcd-backed e2e spec repeats: one etcd per file (`beforeAll`, started
 * together with `buildLibOnce()` when `buildLib`), after each test the child-process apps
 * (`NodeChild.disposeAll()`), then the Nest apps in `apps`, then everything in `closables` is
 * released, and etcd is disposed in `afterAll`. Call it directly inside `describe`; hooks the spec
 * adds after it run after these ones.
 *
 * @example
 * describe('registry: draining', () => {
 *   const suite = useEtcdSuite({ buildLib: true });
 *   it('...', async () => {
 *     const app = await startApp({ hosts: suite.etcd.endpoint });
 *     suite.apps.push(app);
 *   });
 * });
 */
export function useEtcdSuite(options: EtcdSuiteOptions = {}): EtcdSuite {
  let etcd: EtcdServer | undefined;
  const suite: EtcdSuite = {
    get etcd(): EtcdServer {
      if (!etcd) throw new Error('useEtcdSuite: etcd is read before beforeAll started it');
      return etcd;
    },
    apps: [],
    closables: [],
  };

  beforeAll(async () => {
    [etcd] = await Promise.all([
      EtcdServer.start(options.etcd),
      options.buildLib ? buildLibOnce() : undefined,
    ]);
  });
  if (options.restartIfStopped || options.clearPrefix !== undefined) {
    beforeEach(async () => {
      if (options.restartIfStopped && !suite.etcd.running) await suite.etcd.restart();
      if (options.clearPrefix !== undefined) {
        await suite.etcd.del(options.clearPrefix, { prefix: true });
      }
    });
  }
  afterEach(async () => {
    await NodeChild.disposeAll();
    await closeAll(suite.apps);
    await Promise.all(suite.closables.splice(0).map(c => c.close()));
  });
  afterAll(async () => {
    await etcd?.dispose();
  });
  return suite;
}

/**
 * A fresh temp directory for the file (`mkdtemp` in `beforeAll`, removed in `afterAll`), for snapshot
 * files and data dirs. Read `path` inside hooks and tests.
 */
export function useTempDir(prefix: string): { readonly path: string } {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return {
    get path(): string {
      if (!dir) throw new Error('useTempDir: path is read before beforeAll made it');
      return dir;
    },
  };
}
