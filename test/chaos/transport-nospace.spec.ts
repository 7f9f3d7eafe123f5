import 'reflect-metadata';
import { EtcdConfigService, EtcdRequestRejectedError } from '../../lib/index.js';
import { nextValue, waitFor } from '../support/index.js';
import { FAST_TIMINGS, bootApp, useChaosSuite } from '../support/chaos-helpers.js';

/**
 * NOSPACE: etcd out of space (a tiny --quota-backend-bytes) refuses every put
 * ("database space exceeded", gRPC RESOURCE_EXHAUSTED, which etcd3 counts as a host failure). The
 * app's set() gets EtcdRequestRejectedError with etcd's reason, and outside deletes (still allowed)
 * keep reaching the app's config watch, in order, while the refusals go on.
 */

const QUOTA_BYTES = 256 * 1024;

describe('chaos: NOSPACE', () => {
  const suite = useChaosSuite({ etcd: { extraArgs: [`--quota-backend-bytes=${QUOTA_BYTES}`] } });
  const { apps, logs } = suite;

  it("set() is refused with etcd's reason; outside deletes keep arriving in order", async () => {
    const keys = Array.from({ length: 6 }, (_, i) => `/config/k${i}`);
    for (const key of keys) await suite.raw.put(key).value('v');
    const app = await bootApp({ hosts: suite.etcd.endpoint, ...FAST_TIMINGS });
    apps.push(app);
    const config = app.get(EtcdConfigService);
    expect(config.get('k0')).toBe('v');

    // fill etcd until it raises the NOSPACE alarm
    const filler = 'f'.repeat(64 * 1024);
    await waitFor(
      async () => {
        try {
          await suite.raw.put(`/fill/${Math.random()}`).value(filler);
          return false;
        } catch (err) {
          return /database space exceeded/.test(String(err));
        }
      },
      { timeout: 30_000, interval: 1, message: 'etcd to raise the NOSPACE alarm' },
    );

    const refusals: unknown[] = [];
    for (let i = 0; i < keys.length; i++) {
      try {
        await config.set('new', `n${i}`);
        refusals.push(new Error('a set() was accepted under NOSPACE'));
      } catch (err) {
        refusals.push(err);
      }
      await suite.etcd.del(keys[i]!);
      await nextValue(
        config.watch(`k${i}`),
        v => v === undefined,
        2_000,
        `outside delete of k${i}`,
      );
    }
    for (const err of refusals) {
      expect(err).toBeInstanceOf(EtcdRequestRejectedError);
      expect((err as Error).message).toMatch(/database space exceeded/);
      expect((err as Error).message).not.toMatch(/circuit breaker/i);
    }
    expect(logs.matching('warn', /lost|unresponsive/)).toEqual([]);
  }, 90_000);
});
