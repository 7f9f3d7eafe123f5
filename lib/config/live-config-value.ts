import type { Logger } from '@nestjs/common';
import { Observable, Subject, type Subscriber } from 'rxjs';
import { applyOptions } from './config-codec.js';
import type { ConfigEntry } from './config-store.js';
import type {
  ConfigChange,
  ConfigRejection,
  ConfigValue,
  ConfigValueOptions,
} from './config-value.interface.js';
import { sameEffective, type EffectiveValue } from './effective-value.js';

/** The value a {@link LiveConfigValue} serves and who listens to it. */
interface Current<T> {
  value: T;
  subscribers: Subscriber<T>[];
  completed: boolean;
}

/** A change a {@link LiveConfigValue} accepted (for `@OnConfigChange`). @internal */
export interface AcceptedChange<T> {
  readonly value: T;
  readonly change: ConfigChange;
}

/**
 * The object `@InjectConfig` injects: the key's effective value after `parse` / `schema`. It never
 * decodes again what the store decoded; only a custom `parse` reads the text.
 * @internal
 */
export class LiveConfigValue<T> extends Observable<T> implements ConfigValue<T> {
  private readonly current: Current<T>;
  private readonly acceptedSubject = new Subject<AcceptedChange<T>>();
  /** The last accepted effective value (`undefined` while the default is served). */
  accepted: EffectiveValue | undefined;
  /** The effective value this one currently refuses, if any (the snapshot file keeps the accepted one). */
  rejected: EffectiveValue | undefined;
  /** Accepted changes, after validation (not the current value). */
  readonly accepted$: Observable<AcceptedChange<T>> = this.acceptedSubject.asObservable();

  constructor(
    readonly key: string,
    readonly options: ConfigValueOptions<T>,
    private readonly logger: Logger,
    private readonly onReject: (rejection: ConfigRejection) => void = () => undefined,
  ) {
    // What a BehaviorSubject does, without a Subject on the path of each change: a subscriber gets
    // the current value, then every change, until it unsubscribes or the value completes.
    const current: Current<T> = { value: options.default as T, subscribers: [], completed: false };
    super(subscriber => {
      if (current.completed) {
        subscriber.complete();
        return undefined;
      }
      // Replaced, never changed in place: an emission in progress keeps its list.
      current.subscribers = [...current.subscribers, subscriber];
      subscriber.next(current.value);
      return () => {
        current.subscribers = current.subscribers.filter(s => s !== subscriber);
      };
    });
    this.current = current;
  }

  get value(): T {
    return this.current.value;
  }

  /** Whether anyone listens to accepted changes (else {@link apply} needs no `change`). */
  get hasChangeListeners(): boolean {
    return this.acceptedSubject.observed;
  }

  /**
   * Applies the key's new effective value (`undefined`: missing, the default applies).
   * @param changedFrom An entry the store found `effective`'s bytes differ from (no need to compare
   *   again when it is the one accepted).
   */
  apply(
    effective: EffectiveValue | undefined,
    change?: ConfigChange,
    changedFrom?: ConfigEntry,
  ): void {
    // Shut down: nothing is served any more.
    if (this.current.completed) return;
    if (effective === undefined) {
      this.rejected = undefined;
      const wasSet = this.accepted !== undefined;
      this.accepted = undefined;
      const fallback = this.options.default as T;
      if (this.current.value !== fallback) this.emit(fallback);
      if (change && wasSet) this.acceptedSubject.next({ value: fallback, change });
      return;
    }
    const known = changedFrom !== undefined && this.accepted?.entry === changedFrom;
    if (!known && sameEffective(effective, this.accepted)) {
      this.rejected = undefined;
      return;
    }
    const result = applyOptions(() => effective.text, effective.value, this.options);
    if (!result.ok) {
      this.rejected = effective;
      this.onReject({ key: this.key, revision: effective.revision, reason: result.reason });
      this.logger.warn(
        `config "${this.key}" at revision ${effective.revision} rejected: ${result.reason}; ` +
          (this.accepted !== undefined
            ? 'keeping the last good value'
            : this.options.default === undefined
              ? 'the value stays unset'
              : 'using the default'),
      );
      return;
    }
    this.rejected = undefined;
    this.accepted = effective;
    this.emit(result.value);
    if (change && this.acceptedSubject.observed)
      this.acceptedSubject.next({ value: result.value, change });
  }

  complete(): void {
    const subscribers = this.current.subscribers;
    this.current.completed = true;
    this.current.subscribers = [];
    for (const subscriber of subscribers) subscriber.complete();
    this.acceptedSubject.complete();
  }

  private emit(value: T): void {
    const current = this.current;
    if (current.completed) return;
    current.value = value;
    const subscribers = current.subscribers;
    for (let i = 0; i < subscribers.length; i++) subscribers[i]!.next(value);
  }
}
