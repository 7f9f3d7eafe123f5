import { backoffDelay, spreadBackoffDelay } from '../../lib/common/backoff.js';
import { Sleeper } from '../../lib/common/clock.js';

describe('backoffDelay', () => {
  const retry = { initialDelay: 100, maxDelay: 1_000 };

  it('doubles the base per attempt and caps it at maxDelay', () => {
    const top = () => 1 - Number.EPSILON;
    expect([0, 1, 2, 3, 4, 5].map(a => backoffDelay(a, retry, top))).toEqual([
      100, 200, 400, 800, 1_000, 1_000,
    ]);
  });

  it('jitters within [base / 2, base]', () => {
    expect(backoffDelay(0, retry, () => 0)).toBe(50);
    expect(backoffDelay(2, retry, () => 0)).toBe(200);
    expect(backoffDelay(2, retry, () => 0.5)).toBe(300);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(3, retry);
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
  });

  it('stays finite for huge attempt counts', () => {
    expect(backoffDelay(10_000, retry, () => 0)).toBe(500);
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, retry, () => 1)).toBe(1_000);
  });
});

describe('spreadBackoffDelay (client-go reflector: 800 ms -> 30 s, jitter 1.0)', () => {
  const retry = { initialDelay: 800, maxDelay: 30_000 };

  it('doubles the base per attempt up to maxDelay, and spreads it over [base, 2 x base)', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map(a => spreadBackoffDelay(a, retry, () => 0))).toEqual([
      800, 1_600, 3_200, 6_400, 12_800, 25_600, 30_000,
    ]);
    expect(spreadBackoffDelay(0, retry, () => 0.5)).toBe(1_200);
    for (let i = 0; i < 200; i++) {
      const d = spreadBackoffDelay(1, retry);
      expect(d).toBeGreaterThanOrEqual(1_600);
      expect(d).toBeLessThanOrEqual(3_200);
    }
    expect(spreadBackoffDelay(Number.MAX_SAFE_INTEGER, retry, () => 0)).toBe(30_000);
  });
});

describe('Sleeper', () => {
  it('resolves after the delay', async () => {
    const sleeper = new Sleeper();
    const started = Date.now();
    await sleeper.sleep(20);
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
  });

  it('cancel() ends the current sleep at once and leaves no timer', async () => {
    const sleeper = new Sleeper();
    let woke = false;
    const sleeping = sleeper.sleep(60_000).then(() => {
      woke = true;
    });
    await Promise.resolve();
    expect(woke).toBe(false);
    sleeper.cancel();
    await sleeping;
    expect(woke).toBe(true);
  });

  it('a new sleep ends the previous one; cancel() when idle is harmless', async () => {
    const sleeper = new Sleeper();
    sleeper.cancel();
    const first = sleeper.sleep(60_000);
    const second = sleeper.sleep(1);
    await first;
    await second;
  });
});
