import { jest } from '@jest/globals';
import { HealthIndicatorService } from '@nestjs/terminus';
import { systemClock } from '../../lib/common/clock.js';
import { EtcdConnectivity, type ConnectivityPort } from '../../lib/health/etcd-connectivity.js';
import { EtcdHealthIndicator } from '../../lib/health/etcd-health.indicator.js';
import type { EtcdConfigService } from '../../lib/config/etcd-config.service.js';
import type { EtcdRegistryService } from '../../lib/registry/etcd-registry.service.js';
import { FakeClock } from '../support/fake-clock.js';
import { expectDuration } from '../support/jest-helpers.js';

/** A probe target that answers or not, as the test says. */
class FakeEtcd implements ConnectivityPort {
  up = true;
  readonly isClosed = false;
  async status(): Promise<unknown> {
    if (!this.up) throw new Error('14 UNAVAILABLE: No connection established');
    return {};
  }
}

function healthOf(clock: FakeClock) {
  const etcd = new FakeEtcd();
  const connectivity = new EtcdConnectivity(etcd, false, clock);
  const registry = { status: 'registered', self: undefined } as unknown as EtcdRegistryService;
  const config = { prefix: undefined } as unknown as EtcdConfigService;
  const indicator = new EtcdHealthIndicator(
    new HealthIndicatorService(),
    connectivity,
    registry,
    config,
  );
  const check = async () => {
    const result = await indicator.isHealthy('etcd', { maxStalenessMs: 5_000 });
    return result.etcd as { status: string; message?: string; disconnectedSince?: string };
  };
  return { etcd, connectivity, check };
}

describe('durations are monotonic (a step of the wall clock changes none)', () => {
  it('the system clock: now() does not follow a step of Date.now() (±1 h); wallNow() does', () => {
    const realNow = Date.now();
    const before = systemClock.now();
    const spy = jest.spyOn(Date, 'now').mockReturnValue(realNow + 3_600_000);
    try {
      expect(systemClock.wallNow()).toBe(realNow + 3_600_000);
      // Generous: it tells "did not follow the 1 h step" from "did", not how fast the code runs.
      expectDuration(systemClock.now() - before, 60_000, 'systemClock.now() across a +1 h step');
      spy.mockReturnValue(realNow - 3_600_000);
      expect(systemClock.wallNow()).toBe(realNow - 3_600_000);
      expect(systemClock.now() - before).toBeGreaterThanOrEqual(0);
      expectDuration(systemClock.now() - before, 60_000, 'systemClock.now() across a -1 h step');
    } finally {
      spy.mockRestore();
    }
  });

  it('health: a +1 h wall-clock step during a 2 s outage does not turn it down', async () => {
    const clock = new FakeClock();
    const { etcd, check } = healthOf(clock);
    etcd.up = false;
    expect((await check()).status).toBe('up'); // outage starts
    await clock.advance(1_000);
    clock.stepWall(3_600_000);
    await clock.advance(1_000);
    const during = await check();
    expect(during.status).toBe('up');
    expect(during.disconnectedSince).toEqual(expect.any(String)); // still shown to people
    etcd.up = true;
    expect((await check()).status).toBe('up');
  });

  it('health: a -1 h wall-clock step during a 9 s outage does not keep it up', async () => {
    const clock = new FakeClock();
    const { etcd, check, connectivity } = healthOf(clock);
    etcd.up = false;
    await check();
    await clock.advance(4_000);
    clock.stepWall(-3_600_000);
    await clock.advance(5_000);
    const down = await check();
    expect(down.status).toBe('down');
    expect(down.message).toMatch(/etcd unreachable since .* \(9000 ms > 5000 ms\)/);
    expect(connectivity.outageMs()).toBe(9_000);
  });
});
