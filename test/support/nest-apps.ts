import type { INestApplicationContext } from '@nestjs/common';

/**
 * Closes every app in `apps` (in parallel) and empties the array; an app that fails to close (or is
 * already closed) does not stop the others and is not an error. `undefined` entries are skipped, so
 * `closeAll([app])` is safe in a `finally` before `app` was assigned.
 */
export async function closeAll(apps: Array<INestApplicationContext | undefined>): Promise<void> {
  await Promise.allSettled(apps.splice(0).flatMap(app => (app ? [app.close()] : [])));
}

/**
 * Retry delays for every app a test boots (`retry` of `forRoot`): 50 ms, backing off to 500 ms, so a
 * test that heals a connection never waits for production backoff. The one copy in test/: kits,
 * specs and the chaos `FAST_TIMINGS` use it.
 */
export const TEST_RETRY = { initialDelay: 50, maxDelay: 500 };
