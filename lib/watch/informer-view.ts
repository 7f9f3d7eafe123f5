import { Observable } from 'rxjs';
import type { InformerChange, InformerState, InformerViewEvent } from './informer.interfaces.js';
import { SYNCED } from './informer.interfaces.js';

/**
 * "Wait until synced, then follow changes" over an informer's `changes$` and `state$`: {@link SYNCED}
 * once the state says synced (at once when it already is), then every change; completes with
 * `changes$`.
 * @internal
 */
export function followView(
  changes$: Observable<InformerChange>,
  state$: Observable<InformerState>,
): Observable<InformerViewEvent> {
  return new Observable<InformerViewEvent>(subscriber => {
    let synced = false;
    const changes = changes$.subscribe({
      next: change => {
        if (synced) subscriber.next(change);
      },
      complete: () => subscriber.complete(),
    });
    const state = state$.subscribe(current => {
      if (current.synced && !synced) {
        synced = true;
        subscriber.next(SYNCED);
      }
    });
    return () => {
      changes.unsubscribe();
      state.unsubscribe();
    };
  });
}
