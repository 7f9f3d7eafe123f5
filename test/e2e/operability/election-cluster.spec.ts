import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import type { EtcdElectionService } from '../../../lib/index.js';
import { EtcdCluster, waitFor } from '../../support/index.js';
import { LeaderSampler, closeAll, electionOf, startOpsApp } from '../../support/ops-test-kit.js';

// etcd's own leader changes under the election: leases are refreshed by the new etcd leader, the
// election must keep at most one leader through it and have one again afterwards.
describe('leader election on a 3-member etcd cluster whose raft leader is killed', () => {
  let cluster: EtcdCluster;
  const apps: INestApplicationContext[] = [];
  let sampler: LeaderSampler | undefined;

  beforeAll(async () => {
    cluster = await EtcdCluster.start(3);
  });
  afterAll(async () => {
    sampler?.stop();
    await closeAll(apps);
    await cluster?.dispose();
  });

  it('never two leaders at once, and exactly one leader again after the etcd leader change', async () => {
    const ttl = 3;
    const elections = new Map<string, EtcdElectionService>();
    for (const id of ['k-a', 'k-b', 'k-c']) {
      const app = await startOpsApp({ hosts: cluster.hosts, instanceId: id, ttl });
      apps.push(app);
      elections.set(id, electionOf(app));
    }
    sampler = new LeaderSampler(elections, 'cluster-job');
    await waitFor(() => sampler!.current.length === 1, {
      timeout: 10_000,
      message: 'no single leader before the etcd leader was killed',
    });

    const etcdLeader = await cluster.leader();
    const killedAt = Date.now();
    await etcdLeader.kill();
    await waitFor(() => sampler!.samples.some(s => s.at > killedAt && s.leaders.length === 1), {
      timeout: (ttl + 2) * 1000 + 10_000,
      message: 'no leader after the etcd leader was killed',
    });
    // A leader whose renewals stalled during the raft election steps down before its lease can
    // expire (safety first), so a short gap with no leader is allowed; what must hold is one leader
    // again, a full TTL after the first one, and never two at any sample.
    const checkFrom = Date.now();
    await waitFor(
      () => sampler!.samples.some(s => s.at > checkFrom + ttl * 1000 && s.leaders.length === 1),
      {
        timeout: (ttl + 2) * 1000 + 10_000,
        message: 'no single leader a TTL after the etcd leader change',
      },
    );
    expect(sampler.overlaps()).toEqual([]);
  });
});
