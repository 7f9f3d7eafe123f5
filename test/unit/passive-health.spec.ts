import { PassiveHealth } from '../../lib/discovery/passive-health.js';
import type { ServiceInstance } from '../../lib/discovery/service-instance.interface.js';

function instance(instanceId: string, registeredAt = 't0'): ServiceInstance {
  return {
    serviceName: 'svc',
    instanceId,
    host: '127.0.0.1',
    port: 1000,
    metadata: {},
    weight: 1,
    registeredAt,
  };
}

describe('PassiveHealth', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => {
    now = 1_000_000;
  });

  it('ejects after 3 consecutive failures for 10 s by default, then the instance comes back by itself', () => {
    const health = new PassiveHealth(undefined, undefined, clock);
    const a = instance('a');
    expect(health.recordFailure(a)).toEqual({ ejected: false, failures: 1 });
    expect(health.recordFailure(a)).toEqual({ ejected: false, failures: 2 });
    expect(health.isEjected(a)).toBe(false);
    expect(health.recordFailure(a)).toEqual({ ejected: true, failures: 0 });
    expect(health.isEjected(a)).toBe(true);
    now += 9_999;
    expect(health.isEjected(a)).toBe(true);
    now += 1;
    expect(health.isEjected(a)).toBe(false);
  });

  it('a success resets the count: failures must be consecutive', () => {
    const health = new PassiveHealth(3, 10_000, clock);
    const a = instance('a');
    health.recordFailure(a);
    health.recordFailure(a);
    health.recordSuccess(a);
    expect(health.recordFailure(a)).toEqual({ ejected: false, failures: 1 });
    expect(health.recordFailure(a)).toEqual({ ejected: false, failures: 2 });
    expect(health.isEjected(a)).toBe(false);
  });

  it('failures reported while ejected (calls already in flight) neither extend the ejection nor count', () => {
    const health = new PassiveHealth(2, 5_000, clock);
    const a = instance('a');
    health.recordFailure(a);
    expect(health.recordFailure(a).ejected).toBe(true);
    now += 4_000;
    expect(health.recordFailure(a)).toEqual({ ejected: false, failures: 0 });
    now += 1_000;
    expect(health.isEjected(a)).toBe(false);
    // back in the rotation with a clean count
    expect(health.recordFailure(a)).toEqual({ ejected: false, failures: 1 });
  });

  it('available() leaves ejected instances out, but never all of them', () => {
    const health = new PassiveHealth(1, 10_000, clock);
    const [a, b, c] = [instance('a'), instance('b'), instance('c')];
    health.recordFailure(a);
    expect(health.available([a, b, c]).map(i => i.instanceId)).toEqual(['b', 'c']);
    health.recordFailure(b);
    expect(health.available([a, b, c]).map(i => i.instanceId)).toEqual(['c']);
    health.recordFailure(c);
    expect(health.available([a, b, c]).map(i => i.instanceId)).toEqual(['a', 'b', 'c']);
  });

  it('a restarted process (new registeredAt) does not inherit the ejection of its predecessor', () => {
    const health = new PassiveHealth(1, 10_000, clock);
    health.recordFailure(instance('a', 'first'));
    expect(health.isEjected(instance('a', 'first'))).toBe(true);
    expect(health.isEjected(instance('a', 'second'))).toBe(false);
  });
});
