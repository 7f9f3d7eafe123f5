import { InvalidOptionsError } from './invalid-options.error.js';

/**
 * An {@link InvalidOptionsError} for a key the module does not know (usually a typo such as `conifg`
 * or `registry.tll`, which would otherwise be ignored silently). Names the key, the closest valid
 * one, and the valid keys at that level.
 */
export class UnknownOptionError extends InvalidOptionsError {
  override readonly name = 'UnknownOptionError';

  constructor(
    option: string,
    given: unknown,
    /** The closest valid option (full dotted path), when one is close enough to be a typo. */
    readonly suggestion: string | undefined,
    /** The valid keys at the level of `option`. */
    readonly known: readonly string[],
  ) {
    super(option, given, `one of ${known.join(', ')}`);
    this.message =
      `Unknown nest-etcd option "${option}"` +
      (suggestion ? ` (did you mean "${suggestion}"?)` : '') +
      `; valid options here: ${known.join(', ')}.`;
  }
}
