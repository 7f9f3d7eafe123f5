/** What {@link within} saw: the promise's value, or that time ran out first. @internal */
export type Within<T> = { settled: true; value: T } | { settled: false };

/**
 * Waits for `promise` at most `ms` milliseconds. Resolves `{ settled: false }` when time runs out
 * first and rejects when the promise rejects first; the timer never outlives the wait.
 * @internal
 */
export function within<T>(promise: Promise<T>, ms: number): Promise<Within<T>> {
  return new Promise<Within<T>>((resolve, reject) => {
    const timer = setTimeout(() => resolve({ settled: false }), ms);
    promise.then(
      value => {
        clearTimeout(timer);
        resolve({ settled: true, value });
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
