import { Observable } from 'rxjs';
import type { InformerChange, InformerState, InformerViewEvent } from './informer.interfaces.js';
import { SETTLED, SYNCED } from './informer.interfaces.js';

/**
 * "Wait until synced, then follow changes" over an informer's `changes$`, `state$` and settles:
 * {@link SYNCED} once the state says synced (at once when it already is), then every change, each
 * batch ended by {@link SETTLED}; completes with `changes$`.
 * @internal
 */
export function followView(
  changes$: Observable<InformerChange>,
  state$: Observable<InformerState>,
  settles$: Observable<void>,
): Observable<InformerViewEvent> {
  return new Observable<InformerViewEvent>(subscriber => {
    let synced = false;
    const changes = changes$.subscribe({
      next: change => {
        if (synced) subscriber.next(change);
      },
      complete: () => subscriber.complete(),
    });
    const settles = settles$.subscribe(() => {
      if (synced) subscriber.next(SETTLED);
    });
    const state = state$.subscribe(current => {
      if (current.synced && !synced) {
        synced = true;
        subscriber.next(SYNCED);
      }
    });
    return () => {
      changes.unsubscribe();
      settles.unsubscribe();
      state.unsubscribe();
    };
  });
}
