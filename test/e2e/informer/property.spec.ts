import type { Etcd3 } from 'etcd3';
import { EtcdServer, TcpProxy, nextValue, waitFor } from '../../support/index.js';
import {
  ChangeLog,
  asStrings,
  caughtUp,
  openConnection,
  replay,
  seededRandom,
  sorted,
  writerClient,
  type TestConnection,
} from '../../support/informer-test-kit.js';

const SEED = process.env.SEED ? Number(process.env.SEED) : Math.floor(Math.random() * 2 ** 31);
const PREFIX = '/prop/';
const OPS = 150;
const MAX_RESTARTS = 3;

describe('PrefixInformer property: any mix of writes and faults converges (real etcd)', () => {
  let etcd: EtcdServer;
  let proxy: TcpProxy;
  let connection: TestConnection;
  let writer: Etcd3;

  beforeAll(async () => {
    etcd = await EtcdServer.start();
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: etcd.clientPort });
    connection = openConnection(proxy.endpoint, { watchStallTimeout: 2_000 });
    writer = writerClient(etcd.endpoint);
  });
  afterAll(async () => {
    await connection?.onApplicationShutdown();
    writer?.close();
    await proxy?.close();
    await etcd?.dispose();
  });

  /** Retries a write while the writer's own channel reconnects after a restart. */
  async function write(op: () => Promise<unknown>): Promise<void> {
    await waitFor(
      async () => {
        await op();
        return true;
      },
      { timeout: 15_000, message: 'write' },
    );
  }

  it(`map equals etcd and replaying the changes gives the map (SEED=${SEED})`, async () => {
    const random = seededRandom(SEED);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const key = () => `${PREFIX}k${Math.floor(random() * 12)}`;
    for (let i = 0; i < 5; i++) await write(() => writer.put(key()).value(`init-${i}`).exec());

    const informer = connection.informers.acquire(PREFIX).informer;
    const log = new ChangeLog(informer);
    await nextValue(informer.state$, s => s.synced, 15_000, 'informer first sync');
    const first = asStrings(informer.snapshot.entries);
    const trace: string[] = [];
    let restarts = 0;

    try {
      for (let i = 0; i < OPS; i++) {
        const roll = random();
        if (roll < 0.5) {
          const k = key();
          trace.push(`put ${k}`);
          await write(() => writer.put(k).value(`v${i}`).exec());
        } else if (roll < 0.72) {
          const k = key();
          trace.push(`del ${k}`);
          await write(() => writer.delete().key(k).exec());
        } else if (roll < 0.77) {
          trace.push('txn');
          const i0 = Math.floor(random() * 12);
          const [a, b] = [`${PREFIX}k${i0}`, `${PREFIX}k${(i0 + 1) % 12}`];
          await write(() =>
            writer
              .if(a, 'Version', '>', -1)
              .then(writer.put(a).value(`t${i}`), writer.delete().key(b))
              .commit(),
          );
        } else if (roll < 0.84) {
          trace.push('compact');
          await etcd.compact();
        } else if (roll < 0.92) {
          const fault = pick(['reset', 'partition'] as const);
          trace.push(fault);
          if (fault === 'reset') {
            proxy.reset();
          } else {
            // Cut the informer off, write behind its back, compact past it, heal.
            proxy.blackhole();
            proxy.reset();
            await write(() => writer.put(key()).value(`p${i}`).exec());
            await write(() => writer.delete().key(key()).exec());
            await etcd.compact();
            proxy.heal();
          }
        } else if (restarts < MAX_RESTARTS) {
          restarts++;
          trace.push('restart');
          await etcd.kill();
          await etcd.restart();
        }
      }

      const finalRevision = await etcd.revision();
      await caughtUp(informer, finalRevision, 30_000);
      const inEtcd = sorted(await etcd.getPrefix(PREFIX));
      expect(sorted(asStrings(informer.snapshot.entries))).toEqual(inEtcd);
      expect(sorted(replay(first, log.changes))).toEqual(inEtcd);
      const revisions = log.changes.map(c => c.revision);
      expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    } catch (err) {
      throw new Error(
        `property failed with SEED=${SEED} after ops [${trace.join(', ')}]: ${String(err)}`,
      );
    } finally {
      proxy.heal();
      log.close();
    }
  }, 120_000); // above its longest waits (30 s, stretched to 45 s when loaded) plus the rest
});
