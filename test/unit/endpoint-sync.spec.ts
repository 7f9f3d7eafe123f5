import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Etcd3 } from 'etcd3';
import { EndpointSync, normalizeEndpoint, planHostSync } from '../../lib/client/endpoint-sync.js';
import { currentHosts } from '../../lib/client/etcd3-internals.adapter.js';
import { FakeClock } from '../support/fake-clock.js';

/** autoSyncEndpoints' decision (which hosts to follow, never dropping a proxy); the switch itself is proven by test/chaos/cluster-members-replaced.spec.ts. */
describe('planHostSync', () => {
  const a = 'http://10.0.0.1:2379';
  const b = 'http://10.0.0.2:2379';
  const c = 'http://10.0.0.3:2379';
  const d = 'http://10.0.0.4:2379';
  const e = 'http://10.0.0.5:2379';

  it('keeps the hosts while they are members, also when the cluster grew', () => {
    const known = new Set<string>();
    expect(planHostSync([a, b], [a, b, c], known)).toEqual({ removed: [] });
    expect([...known].sort()).toEqual([a, b]);
  });

  it('follows the member list once a host that was a member is gone: keeps the others, adds the new members', () => {
    const known = new Set<string>();
    planHostSync([a, b, c], [a, b, c], known);
    expect(planHostSync([a, b, c], [b, c, d], known)).toEqual({
      next: [b, c, d],
      removed: [a],
    });
  });

  it('after every configured member was replaced, uses the new members only', () => {
    const known = new Set<string>();
    planHostSync([a, b, c], [a, b, c], known);
    // A sync missed every step of a rolling replacement: none of the hosts is a member now.
    expect(planHostSync([a, b, c], [d, e], known)).toEqual({ next: [d, e], removed: [a, b, c] });
  });

  it('never drops a host that never was a member (a proxy, a load balancer, a DNS name)', () => {
    const known = new Set<string>();
    const proxy = 'http://127.0.0.1:30000';
    expect(planHostSync([proxy], [a, b, c], known)).toEqual({ removed: [] });
    expect(planHostSync([proxy], [d], known)).toEqual({ removed: [] });
    // Mixed: the member that left is replaced, the proxy stays.
    planHostSync([proxy, a], [a, b], known);
    expect(planHostSync([proxy, a], [b, c], known)).toEqual({
      next: [proxy, b, c],
      removed: [a],
    });
  });

  it('changes nothing on an empty member list, and compares URLs without case or trailing slash', () => {
    const known = new Set<string>([a]);
    expect(planHostSync([a], [], known)).toEqual({ removed: [] });
    expect(planHostSync([a], ['HTTP://10.0.0.1:2379/'], known)).toEqual({ removed: [] });
    expect(normalizeEndpoint(' http://X:1/ ')).toBe('http://x:1');
  });
});

describe('EndpointSync (the member list stubbed; no etcd)', () => {
  it('reads the member list every jittered interval and switches the client once, with one warning', async () => {
    const logger = new Logger('EtcdClient');
    const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const client = new Etcd3({ hosts: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'] });
    let members = ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'];
    let reads = 0;
    (client.cluster as unknown as { memberList: () => Promise<unknown> }).memberList = () => {
      reads++;
      return Promise.resolve({ members: members.map(url => ({ clientURLs: [url] })) });
    };
    const clock = new FakeClock();
    const sync = new EndpointSync(
      client,
      ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'],
      30_000,
      logger,
      () => 0, // the lowest jitter: 0.8 x interval
      clock,
    );
    try {
      sync.start();
      await clock.advance(23_999);
      expect(reads).toBe(0);
      await clock.advance(1);
      expect(reads).toBe(1);
      expect(warn).not.toHaveBeenCalled();

      members = ['http://10.0.0.2:2379', 'http://10.0.0.3:2379'];
      await clock.advance(24_000);
      expect(reads).toBe(2);
      expect(currentHosts(client)).toEqual(['10.0.0.2:2379', '10.0.0.3:2379']);
      expect(sync.hosts).toEqual(['http://10.0.0.2:2379', 'http://10.0.0.3:2379']);
      expect(warn.mock.calls.map(c => String(c[0]))).toEqual([
        expect.stringMatching(
          /^etcd host\(s\) http:\/\/10\.0\.0\.1:2379 are no longer members of the cluster; following its member list: now using http:\/\/10\.0\.0\.2:2379, http:\/\/10\.0\.0\.3:2379 \(configured: http:\/\/10\.0\.0\.1:2379, http:\/\/10\.0\.0\.2:2379;/,
        ),
      ]);
      // Nothing changes again: no second line.
      await clock.advance(24_000);
      expect(reads).toBe(3);
      expect(warn).toHaveBeenCalledTimes(1);
      sync.stop();
      expect(clock.pending).toBe(0);
    } finally {
      sync.stop();
      client.close();
    }
  });
});
