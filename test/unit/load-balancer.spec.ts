import { LoadBalancer } from '../../lib/discovery/load-balancer.js';
import type { ServiceInstance } from '../../lib/discovery/service-instance.interface.js';
import { seededRandom as seeded } from '../support/random.js';

function instance(instanceId: string, weight = 1): ServiceInstance {
  return { serviceName: 'svc', instanceId, host: '127.0.0.1', port: 1000, metadata: {}, weight };
}

function tally(pick: () => ServiceInstance | undefined, times: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < times; i++) {
    const id = pick()?.instanceId ?? 'none';
    counts[id] = (counts[id] ?? 0) + 1;
  }
  return counts;
}

describe('LoadBalancer', () => {
  const abc = [instance('a'), instance('b'), instance('c')];

  it('returns undefined for an empty list, whatever the strategy', () => {
    const balancer = new LoadBalancer(seeded(1));
    for (const strategy of ['round-robin', 'random', 'weighted'] as const) {
      expect(balancer.pick('svc', [], strategy)).toBeUndefined();
    }
  });

  it('rejects an unknown strategy with a message naming the valid ones', () => {
    expect(() => new LoadBalancer().pick('svc', abc, 'fastest' as 'random')).toThrow(
      /unknown load-balancing strategy "fastest".*round-robin.*random.*weighted/,
    );
  });

  describe('round-robin', () => {
    it('rotates through the list exactly, in order', () => {
      const balancer = new LoadBalancer();
      const picks = Array.from({ length: 7 }, () => balancer.pick('svc', abc, 'round-robin'));
      expect(picks.map(p => p?.instanceId)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
    });

    it('is fair: over whole rounds every instance is picked the same number of times', () => {
      const balancer = new LoadBalancer();
      expect(tally(() => balancer.pick('svc', abc, 'round-robin'), 300)).toEqual({
        a: 100,
        b: 100,
        c: 100,
      });
    });

    it('keeps one rotation per service', () => {
      const balancer = new LoadBalancer();
      const xy = [instance('x'), instance('y')];
      expect(balancer.pick('one', abc, 'round-robin')?.instanceId).toBe('a');
      expect(balancer.pick('two', xy, 'round-robin')?.instanceId).toBe('x');
      expect(balancer.pick('one', abc, 'round-robin')?.instanceId).toBe('b');
      expect(balancer.pick('two', xy, 'round-robin')?.instanceId).toBe('y');
    });

    it('keeps rotating when the list changes, never pointing past its end', () => {
      const balancer = new LoadBalancer();
      expect(balancer.pick('svc', abc, 'round-robin')?.instanceId).toBe('a');
      expect(balancer.pick('svc', abc, 'round-robin')?.instanceId).toBe('b');
      const shrunk = [instance('a'), instance('c')];
      const next = [0, 1, 2, 3].map(() => balancer.pick('svc', shrunk, 'round-robin'));
      expect(next.every(p => p !== undefined)).toBe(true);
      expect(new Set(next.map(p => p?.instanceId))).toEqual(new Set(['a', 'c']));
    });

    it('shares no state between two balancers (two apps in one process)', () => {
      const first = new LoadBalancer();
      const second = new LoadBalancer();
      first.pick('svc', abc, 'round-robin');
      first.pick('svc', abc, 'round-robin');
      expect(second.pick('svc', abc, 'round-robin')?.instanceId).toBe('a');
    });
  });

  describe('random', () => {
    it('maps the random number onto the list', () => {
      expect(new LoadBalancer(() => 0).pick('svc', abc, 'random')?.instanceId).toBe('a');
      expect(new LoadBalancer(() => 0.5).pick('svc', abc, 'random')?.instanceId).toBe('b');
      expect(new LoadBalancer(() => 0.999999).pick('svc', abc, 'random')?.instanceId).toBe('c');
    });

    it('is uniform over many picks (seeded)', () => {
      const balancer = new LoadBalancer(seeded(42));
      const picks = 30_000;
      const counts = tally(() => balancer.pick('svc', abc, 'random'), picks);
      for (const id of ['a', 'b', 'c']) {
        expect(Math.abs(counts[id]! / picks - 1 / 3)).toBeLessThan(0.015);
      }
    });
  });

  describe('weighted', () => {
    const weightedList = [instance('a', 1), instance('b', 3), instance('c', 6)];

    it('picks the instance whose cumulative weight interval holds the random point', () => {
      const pickAt = (r: number) =>
        new LoadBalancer(() => r).pick('svc', weightedList, 'weighted')?.instanceId;
      // total 10: a = [0, 1), b = [1, 4), c = [4, 10)
      expect(pickAt(0)).toBe('a');
      expect(pickAt(0.09)).toBe('a');
      expect(pickAt(0.1)).toBe('b');
      expect(pickAt(0.39)).toBe('b');
      expect(pickAt(0.4)).toBe('c');
      expect(pickAt(0.999999)).toBe('c');
    });

    it('is proportional to weight over many picks (seeded)', () => {
      const balancer = new LoadBalancer(seeded(7));
      const picks = 50_000;
      const counts = tally(() => balancer.pick('svc', weightedList, 'weighted'), picks);
      expect(Math.abs(counts.a! / picks - 0.1)).toBeLessThan(0.01);
      expect(Math.abs(counts.b! / picks - 0.3)).toBeLessThan(0.01);
      expect(Math.abs(counts.c! / picks - 0.6)).toBeLessThan(0.01);
    });

    it('never picks an instance of weight 0 while another has weight', () => {
      const balancer = new LoadBalancer(seeded(3));
      const drained = [instance('drained', 0), instance('live', 1), instance('also-drained', 0)];
      expect(tally(() => balancer.pick('svc', drained, 'weighted'), 1_000)).toEqual({
        live: 1_000,
      });
    });

    it('falls back to a uniform pick when every weight is 0', () => {
      const balancer = new LoadBalancer(seeded(5));
      const zeros = [instance('a', 0), instance('b', 0)];
      const counts = tally(() => balancer.pick('svc', zeros, 'weighted'), 2_000);
      expect(counts.a).toBeGreaterThan(800);
      expect(counts.b).toBeGreaterThan(800);
    });

    it('handles fractional weights', () => {
      const balancer = new LoadBalancer(seeded(11));
      const list = [instance('small', 0.25), instance('big', 0.75)];
      const picks = 20_000;
      const counts = tally(() => balancer.pick('svc', list, 'weighted'), picks);
      expect(Math.abs(counts.big! / picks - 0.75)).toBeLessThan(0.015);
    });
  });
});
