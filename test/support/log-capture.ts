import { Logger, type LoggerService } from '@nestjs/common';

/** One line written through Nest's logging. */
export interface CapturedLine {
  level: string;
  context: string;
  message: string;
}

const LEVELS = ['log', 'error', 'warn', 'debug', 'verbose', 'fatal'] as const;

/** An argument of a log call as text (an Error with its stack, so secret checks see it all). */
function asText(arg: unknown): string {
  return arg instanceof Error ? `${arg.name}: ${arg.message}\n${arg.stack ?? ''}` : String(arg);
}

/**
 * The one log-capture kit of the test suite: records lines (and prints nothing, unless
 * `CHAOS_VERBOSE=1` when it is uninstalled) so tests can assert on "one clear warning naming X" and on
 * the absence of secrets. Two ways to use it:
 *
 * - {@link install} (then {@link uninstall} in an after-hook): patches `Logger.prototype`, so every
 *   line the library writes through `new Logger(context)` is captured, whatever logger the app has.
 * - as an app's logger (`createNestApplication({ logger: capture })`): Nest routes the lines of that
 *   app to it (the context is the last string argument), until another app overrides the logger.
 *
 * @example
 * const logs = new LogCapture();
 * beforeEach(() => logs.install());
 * afterEach(() => logs.uninstall());
 * it('warns once', () => {
 *   // ...
 *   expect(logs.warnings('"limits"', 'rejected')).toHaveLength(1);
 * });
 */
export class LogCapture implements LoggerService {
  readonly lines: CapturedLine[] = [];
  private restore: Array<() => void> = [];

  /** Starts capturing every `Logger` instance's lines (patches `Logger.prototype`). */
  install(): this {
    const proto = Logger.prototype as unknown as Record<string, (...args: unknown[]) => void>;
    const lines = this.lines;
    for (const level of LEVELS) {
      const original = proto[level]!;
      proto[level] = function (this: Logger & { context?: string }, ...args: unknown[]) {
        lines.push({ level, context: this.context ?? '', message: args.map(asText).join(' ') });
      };
      this.restore.push(() => {
        proto[level] = original;
      });
    }
    return this;
  }

  /** Undoes {@link install} (a no-op when not installed); prints the lines if `CHAOS_VERBOSE=1`. */
  uninstall(): void {
    if (process.env.CHAOS_VERBOSE === '1') console.log(this.text);
    for (const undo of this.restore.splice(0)) undo();
  }

  /** LoggerService: a `log` line given to this capture as an app's logger. */
  log(message: unknown, context?: string): void {
    this.record('log', message, context);
  }
  /** LoggerService: a `warn` line. */
  warn(message: unknown, context?: string): void {
    this.record('warn', message, context);
  }
  /** LoggerService: an `error` line (Nest passes `message, stack?, context`). */
  error(message: unknown, ...rest: unknown[]): void {
    this.record('error', message, typeof rest.at(-1) === 'string' ? (rest.at(-1) as string) : '');
  }
  /** LoggerService: debug lines are not recorded. */
  debug(): void {}
  /** LoggerService: verbose lines are not recorded. */
  verbose(): void {}

  /** Forgets what was captured so far. */
  clear(): void {
    this.lines.length = 0;
  }

  /** Lines of `level` whose message contains `text` (or matches it) and, when given, of `context`. */
  matching(level: string, text: string | RegExp, context?: string): CapturedLine[] {
    return this.lines.filter(
      l =>
        l.level === level &&
        (context === undefined || l.context === context) &&
        (typeof text === 'string' ? l.message.includes(text) : text.test(l.message)),
    );
  }

  /** Messages of the `warn` lines that contain every one of `parts` (all warnings when none). */
  warnings(...parts: string[]): string[] {
    return this.lines
      .filter(l => l.level === 'warn' && parts.every(part => l.message.includes(part)))
      .map(l => l.message);
  }

  /** Every captured line as one string (for secret checks and failure messages). */
  get text(): string {
    return this.lines.map(l => `[${l.level}] [${l.context}] ${l.message}`).join('\n');
  }

  private record(level: string, message: unknown, context?: string): void {
    this.lines.push({ level, context: context ?? '', message: String(message) });
  }
}
