import 'reflect-metadata';
import { OpsChild } from '../../fixtures/operability/ops-child.launcher.js';
import { nextValue, within, expectDuration } from '../../support/index.js';
import { electionOf, startOpsApp } from '../../support/ops-test-kit.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';

// Candidates run as child processes here, because a leader has to die (kill -9, SIGTERM).
describe('leader election across processes (kill -9, SIGTERM)', () => {
  const suite = useEtcdSuite({ buildLib: true });
  const { apps: observers } = suite;

  /** Starts two candidates and an observer; resolves once one of them leads. */
  async function twoCandidates(election: string, ttl: number) {
    const observer = await startOpsApp({
      hosts: suite.etcd.endpoint,
      instanceId: `obs-${election}`,
    });
    observers.push(observer);
    const leader$ = electionOf(observer).leader$(election);
    const children = await Promise.all(
      ['c-1', 'c-2'].map(id =>
        OpsChild.start({ hosts: suite.etcd.endpoint, mode: 'election', id, ttl, election }),
      ),
    );
    const leaderId = await nextValue(leader$, id => id === 'c-1' || id === 'c-2', 10_000);
    const leader = children.find(c => c.id === leaderId)!;
    const follower = children.find(c => c.id !== leaderId)!;
    await leader.waitForLine(line => line.startsWith('LEADER 1 '), 5_000);
    expect(follower.lines.filter(line => line.startsWith('LEADER 1 '))).toEqual([]);
    return { leader$, leader, follower };
  }

  it('kill -9 of the leader: the other instance leads within TTL + 2 s', async () => {
    const ttl = 3;
    const { leader$, leader, follower } = await twoCandidates('crash-election', ttl);
    const bound = (ttl + 2) * 1000;
    const next = nextValue(leader$, id => id === follower.id, bound);
    leader.signal('SIGKILL');
    const killedAt = Date.now();
    expect((await within(leader.exited, 10_000, 'leader exit after SIGKILL')).signal).toBe(
      'SIGKILL',
    );
    expect(await next).toBe(follower.id);
    const line = await follower.waitForLine(l => l.startsWith('LEADER 1 '), bound);
    const ledAt = Number(line.split(' ')[2]);
    expectDuration(ledAt - killedAt, bound, 'a new leader after the leader was killed (TTL + 2 s)');
    expect(ledAt).toBeGreaterThan(killedAt);
  });

  it('SIGTERM: the leader resigns on shutdown and the other instance leads within 1 s', async () => {
    // A TTL far above the bound: only the resignation (lease revoked) can pass this test.
    const { leader$, leader, follower } = await twoCandidates('term-election', 10);
    const next = nextValue(leader$, id => id === follower.id, 5_000);
    leader.signal('SIGTERM');
    const exit = await within(leader.exited, 20_000, 'leader exit after its signal');
    expect(exit.signal ?? exit.code).toBe('SIGTERM');
    expect(await next).toBe(follower.id);
    const resigned = leader.lines.find(l => l.startsWith('LEADER 0 '));
    const led = await follower.waitForLine(l => l.startsWith('LEADER 1 '), 5_000);
    expect(resigned).toBeDefined();
    // at once (milliseconds on a quiet machine): far below the TTL, which is what this proves
    expectDuration(
      Number(led.split(' ')[2]) - Number(resigned!.split(' ')[2]),
      3_000,
      'the follower leading after the leader resigned',
    );
    expect(leader.log).toContain('resigned leadership of "term-election"');
  });
});
