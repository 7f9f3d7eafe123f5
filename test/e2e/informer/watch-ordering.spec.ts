import type { Etcd3 } from 'etcd3';
import { EtcdInformerPort, PrefixInformer } from '../../support/internals.js';
import { EtcdServer, nextValue, waitFor } from '../../support/index.js';
import { TEST_RETRY } from '../../support/nest-apps.js';
import {
  ChangeLog,
  asStrings,
  caughtUp,
  openConnection,
  replay,
  revisionsOf,
  sorted,
  writerClient,
  type TestConnection,
} from '../../support/informer-test-kit.js';

describe('PrefixInformer: list, then watch from R + 1 (real etcd)', () => {
  let etcd: EtcdServer;
  let connection: TestConnection;
  let writer: Etcd3;

  beforeAll(async () => {
    etcd = await EtcdServer.start();
    connection = openConnection(etcd.endpoint);
    writer = writerClient(etcd.endpoint);
  });
  afterAll(async () => {
    await connection?.onApplicationShutdown();
    writer?.close();
    await etcd?.dispose();
  });

  it('has no gap and no duplicate revision when writes race the start', async () => {
    const prefix = '/race/';
    for (let i = 0; i < 10; i++) await writer.put(`${prefix}k${i}`).value(`seed-${i}`);

    let stopWriter = false;
    let writes = 0;
    const writing = (async () => {
      let n = 0;
      while (!stopWriter) {
        const key = `${prefix}k${n % 20}`;
        if (n % 3 === 2) {
          // Only delete keys that exist, so every write makes a revision.
          const res = await writer.delete().key(key).exec();
          if (Number(res.deleted) > 0) writes++;
        } else {
          await writer.put(key).value(`v${n}`);
          writes++;
        }
        n++;
      }
    })();

    // Let the writer get going, then start the informer in the middle of the storm.
    await waitFor(() => writes >= 30, { timeout: 15_000, interval: 5, message: '30 writes done' });
    const informer = new PrefixInformer(new EtcdInformerPort(connection.kv), prefix, {
      stallTimeout: 30_000,
      retry: TEST_RETRY,
    });
    const log = new ChangeLog(informer);
    const firstSync = nextValue(informer.state$, s => s.synced, 15_000, 'informer first sync');
    informer.start();
    try {
      const first = await firstSync;
      const firstSnapshot = asStrings(informer.snapshot.entries);
      // Keep writing for a while after the first list.
      const target = writes + 150;
      await waitFor(() => writes >= target, {
        timeout: 30_000,
        interval: 10,
        message: `${target} writes done`,
      });
      stopWriter = true;
      await writing;
      const finalRevision = await etcd.revision();
      await caughtUp(informer, finalRevision);

      expect(sorted(asStrings(informer.snapshot.entries))).toEqual(
        sorted(await etcd.getPrefix(prefix)),
      );
      const expected = Array.from(
        { length: finalRevision - first.revision },
        (_, i) => first.revision + 1 + i,
      );
      expect(revisionsOf(log.changes)).toEqual(expected);
      expect(log.changes.every(c => !c.resync)).toBe(true);
      expect(sorted(replay(firstSnapshot, log.changes))).toEqual(
        sorted(asStrings(informer.snapshot.entries)),
      );
    } finally {
      stopWriter = true;
      await writing;
      log.close();
      await informer.stop();
    }
  }, 120_000); // above its longest waits (30 s, stretched to 45 s when loaded) plus the rest

  it('applies every event of one transaction and of a range delete', async () => {
    const prefix = '/txn/';
    const informer = new PrefixInformer(new EtcdInformerPort(connection.kv), prefix, {
      stallTimeout: 30_000,
      retry: TEST_RETRY,
    });
    const log = new ChangeLog(informer);
    informer.start();
    try {
      await informer.ready();
      const txn = await writer
        .if(`${prefix}a`, 'Version', '==', 0)
        .then(writer.put(`${prefix}a`).value('1'), writer.put(`${prefix}b`).value('2'))
        .commit();
      const txnRevision = Number(txn.header.revision);
      await caughtUp(informer, txnRevision);
      expect(log.changes.map(c => [c.type, c.key, c.revision])).toEqual([
        ['put', `${prefix}a`, txnRevision],
        ['put', `${prefix}b`, txnRevision],
      ]);

      const del = await writer.delete().prefix(prefix).exec();
      const delRevision = Number(del.header.revision);
      await caughtUp(informer, delRevision);
      await new Promise<void>(resolve => setImmediate(resolve));
      expect(informer.size).toBe(0);
      expect(log.since(2).map(c => [c.type, c.key, c.revision])).toEqual([
        ['delete', `${prefix}a`, delRevision],
        ['delete', `${prefix}b`, delRevision],
      ]);
    } finally {
      log.close();
      await informer.stop();
    }
  });

  it('hands out immutable snapshots stamped with their revision', async () => {
    const prefix = '/immutable/';
    await writer.put(`${prefix}x`).value('1');
    const informer = new PrefixInformer(new EtcdInformerPort(connection.kv), prefix, {
      stallTimeout: 30_000,
      retry: TEST_RETRY,
    });
    informer.start();
    try {
      await informer.ready();
      const before = informer.snapshot;
      const beforeRevision = before.revision;
      expect(beforeRevision).toBe(await etcd.revision());
      const put = await writer.put(`${prefix}y`).value('2');
      await caughtUp(informer, Number(put.header.revision));
      const after = informer.snapshot;
      expect(after.revision).toBe(Number(put.header.revision));
      expect(before.revision).toBe(beforeRevision);
      expect([...before.entries.keys()]).toEqual([`${prefix}x`]);
      expect([...after.entries.keys()].sort()).toEqual([`${prefix}x`, `${prefix}y`]);
      expect(Object.isFrozen(before)).toBe(true);
      expect(Object.isFrozen(before.entries.get(`${prefix}x`))).toBe(true);
    } finally {
      await informer.stop();
    }
  });
});
