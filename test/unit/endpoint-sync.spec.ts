import { normalizeEndpoint, planHostSync } from '../../lib/client/endpoint-sync.js';

/** autoSyncEndpoints' decision (issue 23.5); the switch itself is proven by test/chaos/cluster-members-replaced.spec.ts. */
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
