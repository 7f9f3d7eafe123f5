/**
 * Exponential backoff with full jitter: a random delay in [base/2, base] where base doubles with each
 * attempt up to `maxDelay`.
 * @internal
 */
export function backoffDelay(
  attempt: number,
  retry: { initialDelay: number; maxDelay: number },
  random: () => number = Math.random,
): number {
  const base = Math.min(retry.maxDelay, retry.initialDelay * 2 ** Math.min(attempt, 30));
  return Math.round(base / 2 + (random() * base) / 2);
}

/**
 * client-go's reflector backoff (`wait.NewExponentialBackoffManager(800ms, 30s, 2min, 2.0, 1.0)`):
 * a base that doubles with each attempt from `initialDelay` up to `maxDelay`, spread by a jitter
 * factor of 1.0 over [base, 2 × base). Many clients that lost etcd at the same moment (a fleet
 * through an etcd restart) come back spread over a whole base, never in the same millisecond.
 * @internal
 */
export function spreadBackoffDelay(
  attempt: number,
  retry: { initialDelay: number; maxDelay: number },
  random: () => number = Math.random,
): number {
  const base = Math.min(retry.maxDelay, retry.initialDelay * 2 ** Math.min(attempt, 30));
  return Math.round(base + random() * base);
}
