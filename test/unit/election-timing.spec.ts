import 'reflect-metadata';
import { leaseTiming } from '../../lib/lease/lease-timing.js';
import {
  LEADER_GUARD,
  LeaderOnly,
  leaderOnlyName,
  type LeaderGuard,
} from '../../lib/election/leader-only.decorator.js';

describe('election timing (client-go ratios)', () => {
  it.each([2, 3, 10, 15, 60])(
    'ttl %i s: renew deadline < lease duration, retry period < renew deadline',
    ttl => {
      const timing = leaseTiming(ttl);
      expect(timing.renewDeadlineMs).toBeLessThan(ttl * 1000);
      expect(timing.retryPeriodMs).toBeLessThan(timing.renewDeadlineMs);
      // at least two renewals fit in the renew deadline
      expect(timing.renewDeadlineMs / timing.retryPeriodMs).toBeGreaterThanOrEqual(2);
    },
  );

  it('ttl 15 s gives client-go defaults shape: 10 s renew deadline, 2 s retry period', () => {
    expect(leaseTiming(15)).toEqual({ ttl: 15, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
  });
});

describe('@LeaderOnly', () => {
  const KEY = 'test:other-decorator';
  const other: MethodDecorator = (_t, _k, descriptor) => {
    Reflect.defineMetadata(KEY, 'kept', descriptor.value as object);
    return descriptor;
  };

  class Job {
    calls = 0;
    @other
    @LeaderOnly('jobs')
    below(): string {
      this.calls++;
      return 'ran';
    }

    @LeaderOnly()
    @other
    above(): string {
      this.calls++;
      return 'ran';
    }
  }

  function withGuard(job: Job, leads: boolean, seen: Array<[string | undefined, string]>): Job {
    const guard: LeaderGuard = {
      mayRun: (name, target) => {
        seen.push([name, target]);
        return leads;
      },
    };
    Object.defineProperty(job, LEADER_GUARD, { value: guard });
    return job;
  }

  it('runs the method only when the guard says this instance leads', () => {
    const seen: Array<[string | undefined, string]> = [];
    const leader = withGuard(new Job(), true, seen);
    const follower = withGuard(new Job(), false, []);
    expect(leader.below()).toBe('ran');
    expect(follower.below()).toBeUndefined();
    expect(leader.calls).toBe(1);
    expect(follower.calls).toBe(0);
    expect(seen).toEqual([['jobs', 'Job.below']]);
  });

  it('never runs without a guard (no election service attached)', () => {
    const job = new Job();
    expect(job.above()).toBeUndefined();
    expect(job.calls).toBe(0);
  });

  it('keeps metadata of other decorators in either order and records its election name', () => {
    expect(Reflect.getMetadata(KEY, Job.prototype.below)).toBe('kept');
    expect(Reflect.getMetadata(KEY, Job.prototype.above)).toBe('kept');
    expect(leaderOnlyName(Job.prototype.below)).toBe('jobs');
    expect(leaderOnlyName(Job.prototype.above)).toBeNull();
  });

  it('rejects a name with a slash', () => {
    expect(() => LeaderOnly('a/b')).toThrow(/not valid/);
  });
});
