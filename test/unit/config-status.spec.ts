import { StatusCoalescer, type CoalescerClock } from '../../lib/config/config-status.js';
import { FakeClock } from '../support/fake-informer-port.js';

/** The status writer's timing rule on a fake clock: bursts coalesce, a change never waits long. */
describe('StatusCoalescer: few status writes, each change reported soon', () => {
  const timing = { debounceMs: 150, maxWaitMs: 500 };
  let fake: FakeClock;
  let clock: CoalescerClock;
  let flushes: number[];
  let gate: Promise<void> | undefined;

  beforeEach(() => {
    fake = new FakeClock();
    clock = {
      now: () => fake.now(),
      setTimeout: (fn, ms) => fake.setTimer(fn, ms),
      clearTimeout: cancel => (cancel as () => void)(),
    };
    flushes = [];
    gate = undefined;
  });

  const make = () =>
    new StatusCoalescer(
      timing,
      async () => {
        flushes.push(fake.now());
        await gate;
      },
      clock,
    );

  it('one change: one flush after the debounce, none before', async () => {
    const coalescer = make();
    const start = fake.now();
    coalescer.mark();
    await fake.advance(149);
    expect(flushes).toEqual([]);
    await fake.advance(1);
    expect(flushes).toEqual([start + 150]);
    await fake.advance(5_000);
    expect(flushes).toHaveLength(1);
  });

  it('1,000 marks in one turn: one flush', async () => {
    const coalescer = make();
    for (let i = 0; i < 1_000; i++) coalescer.mark();
    await fake.advance(2_000);
    expect(flushes).toHaveLength(1);
  });

  it('a steady stream (a mark every 10 ms for 3 s): a flush at least every max wait, not one per mark', async () => {
    const coalescer = make();
    const start = fake.now();
    for (let t = 0; t < 3_000; t += 10) {
      coalescer.mark();
      await fake.advance(10);
    }
    await fake.advance(1_000);
    expect(flushes.length).toBeGreaterThanOrEqual(6);
    expect(flushes.length).toBeLessThanOrEqual(8);
    // No change waited longer than the max wait (plus a debounce when it came during a flush).
    const gaps = [flushes[0]! - start, ...flushes.slice(1).map((at, i) => at - flushes[i]!)];
    expect(Math.max(...gaps)).toBeLessThanOrEqual(timing.maxWaitMs + timing.debounceMs);
  });

  it('marks during a running flush: one more flush after it ends', async () => {
    const coalescer = make();
    let open!: () => void;
    gate = new Promise(resolve => (open = resolve));
    coalescer.mark();
    await fake.advance(150);
    expect(flushes).toHaveLength(1);
    coalescer.mark();
    coalescer.mark();
    await fake.advance(1_000);
    expect(flushes).toHaveLength(1);
    gate = undefined;
    open();
    await fake.advance(150);
    expect(flushes).toHaveLength(2);
    await fake.advance(1_000);
    expect(flushes).toHaveLength(2);
  });

  it('stop(): the pending flush is cancelled, later marks are ignored', async () => {
    const coalescer = make();
    coalescer.mark();
    await coalescer.stop();
    coalescer.mark();
    await fake.advance(2_000);
    expect(flushes).toEqual([]);
    expect(coalescer.pending).toBe(false);
  });
});
