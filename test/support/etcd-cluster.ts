import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdServer, EtcdStartError, parseEtcdJson, runEtcdctl } from './etcd-server.js';
import { freePorts } from './free-port.js';
import { delay } from './process-utils.js';

/** Options for {@link EtcdCluster.start}. */
export interface StartEtcdClusterOptions {
  /** Extra flags for every member (e.g. `--heartbeat-interval=50`). */
  extraArgs?: string[];
}

interface EndpointStatus {
  Endpoint: string;
  Status?: { header?: { member_id?: string }; leader?: string };
}

/**
 * A statically bootstrapped multi-member etcd cluster on loopback free ports. Each member is an
 * {@link EtcdServer}: kill/stop/restart keep its ports and data dir, so it rejoins.
 *
 * @example
 * const cluster = await EtcdCluster.start(3);
 * const leader = await cluster.leader();
 * await leader.kill();
 * await cluster.members.find(m => m !== leader)!.put('k', 'v');
 * await cluster.dispose();
 */
export class EtcdCluster {
  /** Client endpoints of the members it started with, in member order. */
  readonly hosts: string[];

  private constructor(
    readonly members: EtcdServer[],
    private readonly clusterToken = '',
    private readonly extraArgs: string[] = [],
  ) {
    this.hosts = members.map(m => m.endpoint);
  }

  /** Starts `size` members (default 3) and waits until every member is healthy and a leader exists. */
  static async start(size = 3, opts: StartEtcdClusterOptions = {}): Promise<EtcdCluster> {
    for (let attempt = 1; ; attempt++) {
      const ports = await freePorts(size * 2);
      const id = Math.random().toString(36).slice(2, 8);
      const names = Array.from({ length: size }, (_, i) => `c${id}-m${i}`);
      const initialCluster = names
        .map((n, i) => `${n}=http://127.0.0.1:${ports[i * 2 + 1]}`)
        .join(',');
      const clusterToken = `cluster-${id}-${Date.now()}`;
      const members: EtcdServer[] = [];
      for (const [i, name] of names.entries()) {
        members.push(
          new EtcdServer({
            name,
            clientPort: ports[i * 2]!,
            peerPort: ports[i * 2 + 1]!,
            dataDir: await mkdtemp(join(tmpdir(), `nest-etcd-${name}-`)),
            initialCluster,
            clusterToken,
            extraArgs: opts.extraArgs ?? [],
          }),
        );
      }
      const cluster = new EtcdCluster(members, clusterToken, opts.extraArgs ?? []);
      try {
        for (const m of members) m.launch();
        await Promise.all(members.map(m => m.waitHealthy()));
        await cluster.leader();
        return cluster;
      } catch (e) {
        await cluster.dispose();
        if (e instanceof EtcdStartError && e.bindFailed && attempt < 3) continue;
        throw e;
      }
    }
  }

  /** Members whose process is alive. */
  get liveMembers(): EtcdServer[] {
    return this.members.filter(m => m.running);
  }

  /**
   * The current leader among live members (asks each with `endpoint status -w json`). Waits up to
   * `timeoutMs` (default 10 s) for an election to finish.
   */
  async leader(timeoutMs = 10_000): Promise<EtcdServer> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      for (const m of this.liveMembers) {
        try {
          const [status] = parseEtcdJson(
            await m.etcdctl(['endpoint', 'status', '-w', 'json', '--command-timeout=2s'], {
              timeoutMs: 4_000,
            }),
          ) as EndpointStatus[];
          const memberId = status?.Status?.header?.member_id;
          if (memberId !== undefined && memberId === status?.Status?.leader) return m;
        } catch (e) {
          last = (e as Error).message;
        }
      }
      if (Date.now() > deadline) {
        throw new Error(`no etcd leader among live members after ${timeoutMs} ms. ${last}`);
      }
      await delay(100);
    }
  }

  /**
   * Replaces `old` by a new member on fresh ports, as an operator does it (`etcdctl member add`,
   * start it with `--initial-cluster-state=existing`, `etcdctl member remove` the old one, stop and
   * delete it). Waits until the new member is healthy. The new member is in {@link members} (the
   * old one is not); {@link hosts} keeps the original endpoints.
   */
  async replaceMember(old: EtcdServer): Promise<EtcdServer> {
    const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
    const name = `${old.name}-r${Math.random().toString(36).slice(2, 6)}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    await this.reconfigure(['member', 'add', name, `--peer-urls=${peerUrl}`]);
    const initialCluster = [
      ...this.members.map(m => `${m.name}=${m.peerUrl}`),
      `${name}=${peerUrl}`,
    ].join(',');
    const added = new EtcdServer({
      name,
      clientPort,
      peerPort,
      dataDir: await mkdtemp(join(tmpdir(), `nest-etcd-${name}-`)),
      initialCluster,
      clusterToken: this.clusterToken,
      // the last --initial-cluster-state wins over launch()'s "new"
      extraArgs: [...this.extraArgs, '--initial-cluster-state=existing'],
    });
    this.members.push(added);
    added.launch();
    await added.waitHealthy();
    const id = await this.memberId(old);
    await this.reconfigure(['member', 'remove', id]);
    this.members.splice(this.members.indexOf(old), 1);
    await old.dispose();
    await this.leader();
    return added;
  }

  /**
   * A membership change. etcd refuses one ("unhealthy cluster") until every member it counts on has
   * been connected for 5 s (its strict reconfiguration check): retried for up to 30 s.
   */
  private async reconfigure(args: string[]): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await this.etcdctl(args);
        return;
      } catch (e) {
        if (!/unhealthy cluster/.test((e as Error).message) || Date.now() > deadline) throw e;
        await delay(500);
      }
    }
  }

  /** The hex id of a member, from `etcdctl member list`. */
  private async memberId(member: EtcdServer): Promise<string> {
    const listed = parseEtcdJson(await this.etcdctl(['member', 'list', '-w', 'json'])) as {
      members?: Array<{ ID: string | number; name?: string }>;
    };
    const found = listed.members?.find(m => m.name === member.name);
    if (!found) throw new Error(`etcd member ${member.name} is not in the member list`);
    return BigInt(found.ID).toString(16);
  }

  /** Runs etcdctl against all live members' endpoints. */
  etcdctl(args: string[]): Promise<string> {
    const endpoints = this.liveMembers.map(m => m.endpoint);
    if (endpoints.length === 0) return Promise.reject(new Error('no live etcd member'));
    return runEtcdctl(endpoints, undefined, undefined, args);
  }

  /** Kills every member and deletes their data dirs. Idempotent. */
  async dispose(): Promise<void> {
    await Promise.all(this.members.map(m => m.dispose()));
  }
}
