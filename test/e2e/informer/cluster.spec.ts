import type { Etcd3 } from 'etcd3';
import type { PrefixInformer } from '../../support/internals.js';
import { EtcdCluster, type EtcdServer, waitFor, within } from '../../support/index.js';
import {
  ChangeLog,
  asStrings,
  caughtUp,
  openConnection,
  sorted,
  writerClient,
  type TestConnection,
} from '../../support/informer-test-kit.js';

const PREFIX = '/cluster/';

describe('PrefixInformer on a 3-member cluster (real etcd)', () => {
  let cluster: EtcdCluster;
  let connection: TestConnection;
  let writer: Etcd3;

  beforeAll(async () => {
    cluster = await EtcdCluster.start(3, {
      extraArgs: ['--heartbeat-interval=50', '--election-timeout=500'],
    });
    connection = openConnection(cluster.hosts);
    writer = writerClient(cluster.hosts);
  }, 60_000);
  afterAll(async () => {
    await connection?.onApplicationShutdown();
    writer?.close();
    await cluster?.dispose();
  });

  it('keeps up without missing a change while members, then the leader, are killed', async () => {
    const informer: PrefixInformer = connection.informers.acquire(PREFIX).informer;
    await informer.ready();
    const log = new ChangeLog(informer);

    // Each write goes to a new key, so its revision stays the key's mod revision and must show up
    // in the change log whether the watch delivered it or a re-list found it.
    const written: number[] = [];
    let stop = false;
    let n = 0;
    const writing = (async () => {
      while (!stop) {
        try {
          const res = await writer.put(`${PREFIX}w${n}`).value(String(n));
          written.push(Number(res.header.revision));
          n++;
        } catch {
          await new Promise<void>(resolve => setTimeout(resolve, 20));
        }
      }
    })();

    const writesPast = (count: number) =>
      waitFor(() => written.length >= count, { timeout: 20_000, message: `${count} writes` });

    async function killAndRestart(victim: EtcdServer): Promise<void> {
      await writesPast(written.length + 10);
      await victim.kill();
      await writesPast(written.length + 20);
      await victim.restart();
    }

    try {
      for (const member of cluster.members) await killAndRestart(member);
      await killAndRestart(await cluster.leader());
      await writesPast(written.length + 10);
    } finally {
      stop = true;
      await within(writing, 30_000, 'the writer loop stopped (its last put answered)');
    }

    const finalRevision = Math.max(...written);
    await caughtUp(informer, finalRevision, 30_000);
    const inEtcd = await cluster.members[0]!.getPrefix(PREFIX);
    expect(sorted(asStrings(informer.snapshot.entries))).toEqual(sorted(inEtcd));
    const seen = new Set(log.changes.map(c => c.revision));
    expect(written.filter(rev => !seen.has(rev))).toEqual([]);
    expect(written.length).toBeGreaterThan(100);
    log.close();
  }, 120_000); // above its longest waits (30 s, stretched to 45 s when loaded) plus the rest
});
