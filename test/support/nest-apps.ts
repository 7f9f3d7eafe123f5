import type { INestApplicationContext } from '@nestjs/common';

/**
 * Closes every app in `apps` (in parallel) and empties the array; an app that fails to close (or is
 * already closed) does not stop the others and is not an error. `undefined` entries are skipped, so
 * `closeAll([app])` is safe in a `finally` before `app` was assigned.
 */
export async function closeAll(apps: Array<INestApplicationContext | undefined>): Promise<void> {
  await Promise.allSettled(apps.splice(0).flatMap(app => (app ? [app.close()] : [])));
}
