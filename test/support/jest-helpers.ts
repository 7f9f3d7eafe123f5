import { type Observable, filter, firstValueFrom, timeout } from 'rxjs';

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
 * conditions that have no event. Throws on timeout with `message` and the last value / error.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: WaitForOptions = {}): Promise<T> {
  const timeoutMs = opts.timeout ?? 10_000;
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
      throw new Error(`${opts.message ?? 'waitFor timed out'} after ${timeoutMs} ms (${detail})`);
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
 * `timeoutMs` (default 10 s) with `message` (what was awaited) in the error. Unsubscribes and
 * clears its timer either way.
 */
export function nextValue<T>(
  obs: Observable<T>,
  predicate: (value: T) => boolean = () => true,
  timeoutMs = 10_000,
  message = 'nextValue: no matching value',
): Promise<T> {
  return firstValueFrom(
    obs.pipe(
      filter(predicate),
      timeout({
        first: timeoutMs,
        with: () => {
          throw new Error(`${message} within ${timeoutMs} ms`);
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
