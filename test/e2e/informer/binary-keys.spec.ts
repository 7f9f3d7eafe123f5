import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { Etcd3 } from 'etcd3';
import { EtcdServer, nextValue, waitFor } from '../../support/index.js';
import {
  openConnection,
  writerClient,
  type TestConnection,
} from '../../support/informer-test-kit.js';

/**
 * etcd keys are bytes: keys that are not valid UTF-8 are kept under their exact bytes, never folded
 * into one (docs/watch-engine.md). Written with the raw etcd3 client, as any outside writer could.
 */
describe('PrefixInformer: keys that are not UTF-8 (real etcd)', () => {
  let etcd: EtcdServer;
  let connection: TestConnection | undefined;
  let writer: Etcd3;

  beforeAll(async () => {
    etcd = await EtcdServer.start();
    writer = writerClient(etcd.endpoint);
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await connection?.onApplicationShutdown();
    connection = undefined;
  });
  afterAll(async () => {
    writer?.close();
    await etcd?.dispose();
  });

  const key = (byte: number) => Buffer.concat([Buffer.from('/bin/'), Buffer.from([byte])]);

  it('keeps /bin/\\xff and /bin/\\xfe apart; deleting one leaves the other; the stall probe agrees', async () => {
    const debug = jest.spyOn(Logger.prototype, 'debug');
    const warn = jest.spyOn(Logger.prototype, 'warn');
    await writer.put(key(0xff)).value('ff');
    await writer.put(key(0xfe)).value('fe');
    await writer.put('/bin/text').value('plain');

    const opened = openConnection(etcd.endpoint, { watchStallTimeout: 300 });
    connection = opened;
    const informer = opened.informers.acquire('/bin/').informer;
    await informer.ready();
    expect(informer.size).toBe(3);
    expect(informer.get('/bin/text')?.value.toString()).toBe('plain');
    const values = [...informer.snapshot.entries.values()].map(e => e.value.toString()).sort();
    expect(values).toEqual(['fe', 'ff', 'plain']);

    // a delete of one arrives through the watch and removes only that one
    const deleted = nextValue(informer.changes$, c => c.type === 'delete', 5_000);
    await writer.delete().key(key(0xff)).exec();
    const change = await deleted;
    expect(change.previous?.value.toString()).toBe('ff');
    expect(informer.size).toBe(2);
    expect([...informer.snapshot.entries.values()].map(e => e.value.toString()).sort()).toEqual([
      'fe',
      'plain',
    ]);

    // with the map and etcd agreeing on the key count, the stall probe keeps the watch
    await waitFor(
      () =>
        debug.mock.calls.filter(([m]) => /"\/bin\/" silent .* etcd agrees/.test(String(m)))
          .length >= 2,
      { timeout: 10_000, message: 'two stall probes agreeing with the map' },
    );
    expect(warn.mock.calls.filter(([m]) => /"\/bin\/"/.test(String(m)))).toEqual([]);
  });
});
