import 'reflect-metadata';
import { EtcdConfigService, EtcdRequestRejectedError, NestEtcdError } from '../../lib/index.js';
import { nextValue, waitFor, within } from '../support/index.js';
import { FAST_TIMINGS, bootApp, useChaosSuite } from '../support/chaos-helpers.js';

/**
 * A write etcd refuses (value over `--max-request-bytes`) is an answer from
 * etcd, not a broken connection. It must reach the caller as EtcdRequestRejectedError with etcd's
 * reason (never "circuit breaker is open"), and must not tear down the app's watches: an outside
 * writer's changes keep arriving, in order, within a small bound, while the refusals go on.
 */

const MAX_REQUEST_BYTES = 64 * 1024;
/** Over --max-request-bytes: etcd answers "request is too large". */
const OVER_LIMIT = 'x'.repeat(100 * 1024);
/** Over etcd's gRPC message limit (max-request-bytes + 512 KiB): gRPC answers RESOURCE_EXHAUSTED. */
const OVER_GRPC_LIMIT = 'y'.repeat(700 * 1024);
const CHANGES = 12;
const BOUND_MS = 2_000;

describe('chaos: refused writes in a loop', () => {
  const suite = useChaosSuite({
    etcd: { extraArgs: [`--max-request-bytes=${MAX_REQUEST_BYTES}`] },
  });
  const { apps, logs } = suite;

  it("refusals reach the caller with etcd's reason; outside changes keep arriving in order", async () => {
    const app = await bootApp({ hosts: suite.etcd.endpoint, ...FAST_TIMINGS });
    apps.push(app);
    const config = app.get(EtcdConfigService);
    const seen: Array<string | undefined> = [];
    const subscription = config.watch<string>('seq').subscribe(value => seen.push(value));

    let refusing = true;
    const refusals: unknown[] = [];
    const refuser = (async () => {
      for (let i = 0; refusing; i++) {
        try {
          await config.set('big', i % 2 === 0 ? OVER_LIMIT : OVER_GRPC_LIMIT);
          refusals.push(new Error('the oversized set() was accepted'));
        } catch (err) {
          refusals.push(err);
        }
        await new Promise(resolve => setTimeout(resolve, 100));
      }
    })();

    const lags: number[] = [];
    try {
      for (let i = 1; i <= CHANGES; i++) {
        // interleave: at least one more refusal before each outside change
        await waitFor(() => refusals.length >= i, { timeout: 10_000, message: `refusal #${i}` });
        // an outside writer (etcdctl): a put, then a delete
        let started = Date.now();
        await suite.etcd.put('/config/seq', String(i));
        await nextValue(config.watch('seq'), v => v === i, BOUND_MS, `outside put seq=${i}`);
        lags.push(Date.now() - started);
        started = Date.now();
        await suite.etcd.del('/config/seq');
        await nextValue(
          config.watch('seq'),
          v => v === undefined,
          BOUND_MS,
          `outside delete #${i}`,
        );
        lags.push(Date.now() - started);
      }
    } finally {
      refusing = false;
      await within(refuser, 30_000, 'the refusing writer stopped (its last set() refused)');
      subscription.unsubscribe();
    }

    // every change, in order (the watch emits the current value first: undefined)
    const expected: Array<number | undefined> = [undefined];
    for (let i = 1; i <= CHANGES; i++) expected.push(i, undefined);
    expect(seen).toEqual(expected);

    // every refusal is the named error carrying etcd's reason
    expect(refusals.length).toBeGreaterThanOrEqual(CHANGES);
    for (const err of refusals) {
      expect(err).toBeInstanceOf(EtcdRequestRejectedError);
      expect(err).toBeInstanceOf(NestEtcdError);
      const message = (err as Error).message;
      expect(message).toMatch(/request is too large|larger than max/);
      expect(message).not.toMatch(/circuit breaker/i);
    }
    expect(refusals.some(err => /request is too large/.test((err as Error).message))).toBe(true);
    expect(refusals.some(err => /larger than max/.test((err as Error).message))).toBe(true);

    // the watch was never torn down: no outage logged, no re-list
    expect(logs.matching('warn', /lost|unresponsive/)).toEqual([]);
    console.log(
      `refused writes: ${refusals.length} refusals; outside change lag max ${Math.max(...lags)} ms, ` +
        `median ${[...lags].sort((a, b) => a - b)[Math.floor(lags.length / 2)]} ms`,
    );
  }, 90_000);
});
