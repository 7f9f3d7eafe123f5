import type { Logger } from '@nestjs/common';
import { BehaviorSubject, Observable, Subject } from 'rxjs';
import { applyOptions } from './config-codec.js';
import { sameBytes } from './config-store.js';
import type {
  ConfigChange,
  ConfigRejection,
  ConfigValue,
  ConfigValueOptions,
} from './config-value.interface.js';

/**
 * What a {@link LiveConfigValue} is handed: a key's effective value (decoded once by the store), its
 * bytes when it comes from one etcd key (the text is then decoded only when asked), or its text.
 * @internal
 */
export interface EffectiveValue {
  readonly text: string;
  readonly raw?: Uint8Array;
  readonly value: unknown;
  readonly source: string;
  readonly revision: number;
  /** For a folder: the etcd keys it is assembled from, in order. */
  readonly parts?: readonly EffectivePart[];
}

/** One etcd key a folder value is assembled from. @internal */
export interface EffectivePart {
  readonly etcdKey: string;
  readonly raw: Uint8Array;
}

/** Whether two effective values hold the same bytes (or text). @internal */
export function sameEffective(
  a: EffectiveValue | undefined,
  b: EffectiveValue | undefined,
): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  if (a.parts || b.parts) return !!a.parts && !!b.parts && sameParts(a.parts, b.parts);
  return a.raw && b.raw ? sameBytes(a.raw, b.raw) : a.text === b.text;
}

/** Same keys with the same bytes (an unchanged key is the same entry object: no byte compare). */
function sameParts(a: readonly EffectivePart[], b: readonly EffectivePart[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y && (x.etcdKey !== y.etcdKey || !sameBytes(x.raw, y.raw))) return false;
  }
  return true;
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
  private readonly subject: BehaviorSubject<T>;
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
    const subject = new BehaviorSubject<T>(options.default as T);
    super(subscriber => subject.subscribe(subscriber));
    this.subject = subject;
  }

  get value(): T {
    return this.subject.getValue();
  }

  /** Applies the key's new effective value (`undefined`: missing, the default applies). */
  apply(effective: EffectiveValue | undefined, change?: ConfigChange): void {
    if (effective === undefined) {
      this.rejected = undefined;
      const wasSet = this.accepted !== undefined;
      this.accepted = undefined;
      const fallback = this.options.default as T;
      if (this.subject.getValue() !== fallback) this.subject.next(fallback);
      if (change && wasSet) this.acceptedSubject.next({ value: fallback, change });
      return;
    }
    if (sameEffective(effective, this.accepted)) {
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
    this.subject.next(result.value);
    if (change) this.acceptedSubject.next({ value: result.value, change });
  }

  complete(): void {
    this.subject.complete();
    this.acceptedSubject.complete();
  }
}
