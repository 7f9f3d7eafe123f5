import { existsSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { Subject } from 'rxjs';
import {
  EtcdCluster,
  EtcdServer,
  TcpProxy,
  disposeTlsMaterial,
  canBind,
  ephemeralRangeStart,
  freePort,
  freePorts,
  generateRogueCa,
  generateTlsMaterial,
  nextValue,
  waitFor,
  within,
  type RogueCa,
  type TlsMaterial,
} from '../support/index.js';
import { WAIT_SLACK, expectDuration, slackened } from '../support/jest-helpers.js';

describe('freePort', () => {
  it('returns a bindable loopback port below the kernel ephemeral range', async () => {
    const ports = await freePorts(20);
    expect(new Set(ports).size).toBe(20);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThan(ephemeralRangeStart());
    }
    const port = await freePort();
    expect(await canBind(port)).toBe(true);
    const holder = createServer();
    await within(
      new Promise<void>(resolve => holder.listen({ host: '127.0.0.1', port }, resolve)),
      5_000,
      'test listener bound',
    );
    try {
      expect(await canBind(port)).toBe(false);
    } finally {
      await within(
        new Promise<void>(resolve => holder.close(() => resolve())),
        5_000,
        'test listener closed',
      );
    }
  });

  it('the ephemeral range start matches the kernel setting', () => {
    const range = existsSync('/proc/sys/net/ipv4/ip_local_port_range')
      ? readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      : '32768 60999';
    expect(ephemeralRangeStart()).toBe(Number(range.trim().split(/\s+/)[0]));
  });
});

describe('jest helpers', () => {
  it('waitFor resolves with the first truthy value and times out with a message', async () => {
    let n = 0;
    await expect(waitFor(() => ++n >= 3 && n)).resolves.toBe(3);
    await expect(
      waitFor(() => 0, { timeout: 50, interval: 10, message: 'never true' }),
    ).rejects.toThrow(/never true.*last value: 0/);
  });

  it('nextValue resolves with the first matching value and rejects on timeout', async () => {
    const subject = new Subject<number>();
    const next = nextValue(subject, v => v > 1, 1_000);
    subject.next(1);
    subject.next(2);
    await expect(next).resolves.toBe(2);
    await expect(nextValue(subject, () => true, 20)).rejects.toThrow(/within 20 ms/);
    await expect(nextValue(subject, () => true, 20, 'greeting "Hola"')).rejects.toThrow(
      'greeting "Hola" within 20 ms',
    );
  });

  it('waits are stretched by the slack for a loaded machine, asserted bounds are not', () => {
    expect(WAIT_SLACK).toBeGreaterThanOrEqual(1);
    expect(slackened(1_000)).toBe(Math.min(1_000 * WAIT_SLACK, 45_000));
    expect(slackened(60_000)).toBe(60_000); // never shortened
    expect(() => expectDuration(10, 100, 'a quick thing')).not.toThrow();
    expect(() => expectDuration(150, 100, 'close() with etcd gone')).toThrow(
      '"close() with etcd gone" took 150 ms; the bound is 100 ms',
    );
  });

  it('within passes a settled promise through and names what timed out', async () => {
    await expect(within(Promise.resolve(7), 1_000, 'seven')).resolves.toBe(7);
    await expect(within(Promise.reject(new Error('boom')), 1_000, 'boom')).rejects.toThrow('boom');
    await expect(within(new Promise(() => undefined), 20, 'the socket close')).rejects.toThrow(
      'the socket close did not happen within 20 ms',
    );
  });
});

describe('EtcdServer (single node)', () => {
  let etcd: EtcdServer;

  beforeAll(async () => {
    etcd = await EtcdServer.start();
  });
  afterAll(async () => {
    await etcd?.dispose();
  });

  it('exposes a running server on loopback ports', () => {
    expect(etcd.running).toBe(true);
    expect(etcd.pid).toEqual(expect.any(Number));
    expect(etcd.endpoint).toBe(`http://127.0.0.1:${etcd.clientPort}`);
    expect(etcd.peerPort).not.toBe(etcd.clientPort);
  });

  it('puts, gets, lists by prefix and deletes', async () => {
    await etcd.put('app/a', '1');
    await etcd.put('app/b', 'multi\nline "json" ü\n');
    await etcd.put('app/-dash', '-starts-with-dash');
    await etcd.put('other/c', '3');
    expect(await etcd.get('app/a')).toBe('1');
    expect(await etcd.get('app/b')).toBe('multi\nline "json" ü\n');
    expect(await etcd.get('app/missing')).toBeUndefined();
    expect(await etcd.getPrefix('app/')).toEqual(
      new Map([
        ['app/-dash', '-starts-with-dash'],
        ['app/a', '1'],
        ['app/b', 'multi\nline "json" ü\n'],
      ]),
    );
    await etcd.del('app/a');
    expect(await etcd.get('app/a')).toBeUndefined();
    await etcd.del('app/', { prefix: true });
    expect((await etcd.getPrefix('app/')).size).toBe(0);
    expect(await etcd.get('other/c')).toBe('3');
  });

  it('reports the revision and compacts', async () => {
    const before = await etcd.revision();
    await etcd.put('rev/x', '1');
    await etcd.put('rev/x', '2');
    expect(await etcd.revision()).toBe(before + 2);
    await etcd.compact();
    await etcd.compact(); // compacting the same revision twice is fine
    await expect(etcd.etcdctl(['get', 'rev/x', `--rev=${before + 1}`])).rejects.toThrow(
      /compacted/,
    );
  });

  it('keeps its data across kill -9 and restart on the same ports', async () => {
    await etcd.put('durable', 'yes');
    const { pid, endpoint } = etcd;
    await etcd.kill();
    expect(etcd.running).toBe(false);
    expect(etcd.pid).toBeUndefined();
    await expect(
      etcd.etcdctl(['get', 'durable', '--dial-timeout=300ms', '--command-timeout=500ms']),
    ).rejects.toThrow(/etcdctl get durable/);
    await etcd.restart();
    expect(etcd.running).toBe(true);
    expect(etcd.pid).not.toBe(pid);
    expect(etcd.endpoint).toBe(endpoint);
    expect(await etcd.get('durable')).toBe('yes');
  });

  it('stops gracefully and restarts', async () => {
    await etcd.stop();
    expect(etcd.running).toBe(false);
    await etcd.restart();
    expect(await etcd.get('durable')).toBe('yes');
  });
});

describe('EtcdServer with auth', () => {
  let etcd: EtcdServer;

  beforeAll(async () => {
    etcd = await EtcdServer.start({ auth: { rootPassword: 'r00t-pw' } });
  });
  afterAll(async () => {
    await etcd?.dispose();
  });

  it('uses root credentials for its own helpers', async () => {
    expect(etcd.authEnabled).toBe(true);
    await etcd.put('secret', 's');
    expect(await etcd.get('secret')).toBe('s');
  });

  it('rejects a wrong password and accepts root', async () => {
    const err = await etcd.etcdctl(['get', 'secret'], { user: 'root', password: 'wrong' }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/authentication failed/);
    expect(err?.message).not.toContain('wrong');
    expect(
      await etcd.etcdctl(['get', 'secret', '--print-value-only'], {
        user: 'root',
        password: 'r00t-pw',
      }),
    ).toBe('s\n');
  });

  it('refuses anonymous reads', async () => {
    await etcd.etcdctl(['user', 'add', 'nobody:pw', '--interactive=false']);
    await expect(
      etcd.etcdctl(['get', 'secret'], { user: 'nobody', password: 'pw' }),
    ).rejects.toThrow(/permission denied/);
  });
});

describe('EtcdServer with TLS', () => {
  let tls: TlsMaterial;
  let rogue: RogueCa;
  let etcd: EtcdServer;

  beforeAll(async () => {
    [tls, rogue] = await Promise.all([generateTlsMaterial(), generateRogueCa()]);
    etcd = await EtcdServer.start({ tls });
  });
  afterAll(async () => {
    await etcd?.dispose();
    await disposeTlsMaterial(tls);
    await disposeTlsMaterial(rogue);
  });

  it('serves https and accepts the client certificate', async () => {
    expect(etcd.endpoint).toBe(`https://127.0.0.1:${etcd.clientPort}`);
    expect(tls.ca.toString()).toContain('BEGIN CERTIFICATE');
    expect(tls.clientKey.toString()).toContain('PRIVATE KEY');
    await etcd.put('tls/k', 'v');
    expect(await etcd.get('tls/k')).toBe('v');
  });

  it('refuses a client certificate from an unknown CA', async () => {
    await expect(
      etcd.etcdctl([
        `--cert=${rogue.clientCertFile}`,
        `--key=${rogue.clientKeyFile}`,
        '--dial-timeout=1s',
        '--command-timeout=1s',
        'get',
        'tls/k',
      ]),
    ).rejects.toThrow(/etcdctl/);
    expect(rogue.ca.equals(tls.ca)).toBe(false);
  });
});

describe('EtcdCluster (3 members)', () => {
  let cluster: EtcdCluster;

  beforeAll(async () => {
    cluster = await EtcdCluster.start(3);
  });
  afterAll(async () => {
    await cluster?.dispose();
  });

  it('elects a leader and serves all endpoints', async () => {
    expect(cluster.members).toHaveLength(3);
    expect(cluster.hosts).toEqual(cluster.members.map(m => m.endpoint));
    const leader = await cluster.leader();
    expect(cluster.members).toContain(leader);
    await cluster.etcdctl(['put', 'c/k', 'v1']);
    for (const m of cluster.members) expect(await m.get('c/k')).toBe('v1');
  });

  it('survives killing the leader and lets the member rejoin', async () => {
    const oldLeader = await cluster.leader();
    await oldLeader.kill();
    const survivor = cluster.members.find(m => m !== oldLeader)!;
    await waitFor(() => survivor.put('c/k', 'v2').then(() => true), {
      timeout: 15_000,
      interval: 200,
      message: 'write after leader loss',
    });
    const newLeader = await cluster.leader(15_000);
    expect(newLeader).not.toBe(oldLeader);
    expect(cluster.liveMembers).toHaveLength(2);
    expect(await cluster.etcdctl(['get', 'c/k', '--print-value-only'])).toBe('v2\n');

    await oldLeader.restart();
    expect(oldLeader.running).toBe(true);
    await waitFor(
      async () =>
        (await oldLeader.etcdctl(['get', 'c/k', '--print-value-only', '--consistency=s'])) ===
        'v2\n',
      { timeout: 10_000, interval: 100, message: 'restarted member catches up' },
    );
    const members = await cluster.etcdctl(['member', 'list']);
    expect(members.trim().split('\n')).toHaveLength(3);
  });
});

describe('TcpProxy', () => {
  let etcd: EtcdServer;
  let proxy: TcpProxy;
  const viaProxy = (args: string[], timeout = '3s'): Promise<string> =>
    etcd.etcdctl([
      `--endpoints=${proxy.endpoint}`,
      `--dial-timeout=${timeout}`,
      `--command-timeout=${timeout}`,
      ...args,
    ]);

  beforeAll(async () => {
    etcd = await EtcdServer.start();
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: etcd.clientPort });
  });
  afterAll(async () => {
    await proxy?.close();
    await etcd?.dispose();
  });

  it('forwards traffic', async () => {
    expect(proxy.endpoint).toBe(`http://127.0.0.1:${proxy.port}`);
    await viaProxy(['put', 'p/k', 'v']);
    expect(await viaProxy(['get', 'p/k', '--print-value-only'])).toBe('v\n');
    await waitFor(() => proxy.connectionCount === 0, { message: 'etcdctl connections closed' });
  });

  it('blackhole stops traffic and heal resumes it', async () => {
    proxy.blackhole();
    await expect(viaProxy(['get', 'p/k'], '700ms')).rejects.toThrow(/etcdctl/);
    proxy.heal();
    expect(await viaProxy(['get', 'p/k', '--print-value-only'])).toBe('v\n');
  });

  it('adds latency and resets connections', async () => {
    proxy.setLatency(150);
    const started = Date.now();
    expect(await viaProxy(['get', 'p/k', '--print-value-only'])).toBe('v\n');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    proxy.heal();

    // a raw client holds a connection open; reset() kills it with an RST and the proxy keeps
    // accepting. Wait for the proxy to have accepted THIS socket (etcdctl's connections may still
    // be closing, so connectionCount alone proves nothing), and bound every wait.
    const acceptedBefore = proxy.acceptedCount;
    const socket = connect({ host: '127.0.0.1', port: proxy.port });
    try {
      const closed = new Promise<string>(resolve => {
        socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        socket.on('close', () => resolve('closed'));
      });
      await within(
        new Promise<void>(resolve => socket.once('connect', () => resolve())),
        5_000,
        'raw client connected to the proxy',
      );
      await waitFor(() => proxy.acceptedCount > acceptedBefore, {
        timeout: 5_000,
        message: 'proxy accepted the raw client',
      });
      proxy.reset();
      expect(proxy.connectionCount).toBe(0);
      await expect(within(closed, 5_000, 'raw client closed by reset()')).resolves.toMatch(
        /ECONNRESET|closed/,
      );
    } finally {
      socket.destroy();
    }
    expect(await viaProxy(['get', 'p/k', '--print-value-only'])).toBe('v\n');
  });
});
