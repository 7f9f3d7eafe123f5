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
 * `timeoutMs` (default 10 s). Unsubscribes and clears its timer either way.
 */
export function nextValue<T>(
  obs: Observable<T>,
  predicate: (value: T) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<T> {
  return firstValueFrom(
    obs.pipe(
      filter(predicate),
      timeout({
        first: timeoutMs,
        with: () => {
          throw new Error(`nextValue: no matching value within ${timeoutMs} ms`);
        },
      }),
    ),
  );
}
