import {
  assertServiceName,
  defaultInstanceId,
  isInstanceId,
  isServiceName,
} from '../../lib/common/names.js';
import { instanceMatcher } from '../../lib/discovery/instance-filter.js';
import type { ServiceInstance } from '../../lib/discovery/service-instance.interface.js';

describe('name rules (one home: lib/common/names.ts)', () => {
  it.each(['orders', 'orders.v2', 'a_b-c', '9lives'])('%s is a service name', name => {
    expect(isServiceName(name)).toBe(true);
  });

  it.each(['', '-x', 'a/b', 'a:b', 'a@b', 'é', 42, undefined])('%p is not a service name', name => {
    expect(isServiceName(name)).toBe(false);
  });

  it('instance ids, election and lock names also allow ":" but never "/"', () => {
    expect(isInstanceId('web-1:8080')).toBe(true);
    expect(isInstanceId('web/1')).toBe(false);
    expect(isInstanceId(':x')).toBe(false);
  });

  it('assertServiceName names the bad value and the rule', () => {
    expect(() => assertServiceName('a/b')).toThrow(
      'service name "a/b" is not valid: use letters, digits, ".", "_" or "-" (no "/")',
    );
  });

  it('the default instance id is a valid id, distinct per call', () => {
    const id = defaultInstanceId();
    expect(isInstanceId(id)).toBe(true);
    expect(id).toContain(`-${process.pid}-`);
    expect(defaultInstanceId()).not.toBe(id);
  });
});

describe('instance filter (one home: lib/discovery/instance-filter.ts)', () => {
  const instance = (metadata: Record<string, unknown>): ServiceInstance => ({
    serviceName: 's',
    instanceId: 'i',
    host: 'h',
    port: 1,
    metadata,
    weight: 1,
  });

  it('metadata entries must all be equal (===); a predicate is used as given; none keeps all', () => {
    expect(
      instanceMatcher({ version: '2', zone: 'a' })(instance({ version: '2', zone: 'a' })),
    ).toBe(true);
    expect(instanceMatcher({ version: '2' })(instance({ version: 2 }))).toBe(false);
    expect(instanceMatcher(i => i.metadata.canary === true)(instance({ canary: true }))).toBe(true);
    expect(instanceMatcher(undefined)(instance({}))).toBe(true);
  });
});
