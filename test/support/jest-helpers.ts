import { type Observable, filter, firstValueFrom, timeout } from 'rxjs';

/**
 * How much longer than asked the event-driven waits below ({@link waitFor}, {@link nextValue}) wait
 * before failing: they return as soon as the awaited thing happens, so the slack costs nothing on a
 * green run and keeps a loaded laptop (a busy CI box, other suites beside it) from failing on a
 * deadline. Env `NEST_ETCD_TEST_SLACK` (default 2); a wait is never stretched past 45 s (jest's test
 * timeout is 60 s and must stay the later of the two, so the wait's own message is what fails).
 * Bounds a test asserts on (a product's promise: "a new leader within the TTL") are not stretched:
 * they use {@link expectDuration}.
 */
export const WAIT_SLACK = Math.max(1, Number(process.env.NEST_ETCD_TEST_SLACK) || 2);

/** `timeoutMs` stretched by {@link WAIT_SLACK} (never shortened, never past 45 s unless asked). */
export function slackened(timeoutMs: number): number {
  return Math.max(timeoutMs, Math.min(timeoutMs * WAIT_SLACK, 45_000));
}

/**
 * Asserts that a measured duration stayed under its bound, failing with what was bounded:
 * `"close() with etcd gone" took 12034 ms; the bound is 10000 ms`. For bounds that are the point of
 * a test; pick them for a loaded laptop (several times the quiet figure).
 */
export function expectDuration(elapsedMs: number, boundMs: number, what: string): void {
  if (!(elapsedMs < boundMs)) {
    throw new Error(`"${what}" took ${Math.round(elapsedMs)} ms; the bound is ${boundMs} ms`);
  }
}

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** @default 10000 */
  timeout?: number;
  /** @default 25 */
  interval?: number;
  /** Prefix of the error thrown on timeout. */
  message?: string;
}

/**
 * Polls `fn` until it returns (or resolves to) a truthy value and resolves with it. For
 * conditions that have no event. Throws on timeout (`timeout` stretched by {@link WAIT_SLACK}) with
 * `message` and the last value / error.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: WaitForOptions = {}): Promise<T> {
  const askedMs = opts.timeout ?? 10_000;
  const timeoutMs = slackened(askedMs);
  const interval = opts.interval ?? 25;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
      last = value;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const detail =
        lastError !== undefined
          ? `last error: ${lastError instanceof Error ? lastError.message : safeString(lastError)}`
          : `last value: ${safeString(last)}`;
      throw new Error(
        `${opts.message ?? 'waitFor timed out'} after ${askedMs} ms (waited ${timeoutMs} ms; ${detail})`,
      );
    }
    await new Promise<void>(resolve => setTimeout(resolve, interval));
  }
}

function safeString(v: unknown): string {
  try {
    return typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    return String(v);
  }
}

/**
 * Resolves with the first value of `obs` matching `predicate` (default: any value); rejects after
 * `timeoutMs` (default 10 s, stretched by {@link WAIT_SLACK}) with `message` (what was awaited) in
 * the error. Unsubscribes and
 * clears its timer either way.
 */
export function nextValue<T>(
  obs: Observable<T>,
  predicate: (value: T) => boolean = () => true,
  timeoutMs = 10_000,
  message = 'nextValue: no matching value',
): Promise<T> {
  const waitMs = slackened(timeoutMs);
  return firstValueFrom(
    obs.pipe(
      filter(predicate),
      timeout({
        first: waitMs,
        with: () => {
          throw new Error(`${message} within ${timeoutMs} ms (waited ${waitMs} ms)`);
        },
      }),
    ),
  );
}

/**
 * Bounds any promise: resolves or rejects as `promise` does, or rejects after `timeoutMs` with
 * "`what` did not happen within N ms". For events that have no observable (a socket's `close`, a
 * child's `exit`, a callback). The timer is always cleared.
 */
export function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not happen within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
