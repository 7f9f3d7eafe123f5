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
  /** Client endpoints of all members, in member order. */
  readonly hosts: string[];

  private constructor(readonly members: EtcdServer[]) {
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
      const cluster = new EtcdCluster(members);
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
