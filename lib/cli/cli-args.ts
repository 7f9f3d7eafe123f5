import { parseArgs } from 'node:util';
import { CliUsageError } from '../errors/cli-usage.error.js';

/** The commands of docs/cli.md (with `audit`), with their positional arguments. @internal */
export const COMMANDS = {
  services: [],
  instances: ['service'],
  status: ['service'],
  get: ['service', 'key'],
  validate: ['service', 'key'],
  put: ['service', 'key'],
  diff: ['service', 'dir'],
  apply: ['service', 'dir'],
  history: ['service', 'key'],
  rollback: ['service', 'key', 'revision'],
  audit: ['service'],
} as const satisfies Record<string, readonly string[]>;

/** A command name. @internal */
export type CommandName = keyof typeof COMMANDS;

/** A parsed command line. @internal */
export interface CliArgs {
  command: CommandName;
  args: Record<string, string>;
  output: 'table' | 'json';
  endpoints?: string;
  user?: string;
  namespace?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Connect timeout, ms. */
  timeoutMs: number;
  file?: string;
  profile?: string;
  /** `--wait` given: how long, ms. */
  waitMs?: number;
  force: boolean;
  prune: boolean;
  dryRun: boolean;
  expectRevision?: number;
  limit?: number;
  actor?: string;
}

/** `--wait` without a duration waits this long. */
const DEFAULT_WAIT = '30s';

/** The usage text (`nest-etcd --help`). @internal */
export const USAGE = `Usage: nest-etcd <command> [arguments] [flags]

Commands:
  services                                   services in the registry or reporting a config status
  instances <svc>                            registered instances: address, lease TTL left, config revision
  status <svc>                               per instance: revision applied, each key applied / rejected
  get <svc> <key> [--profile p]              the stored value of a key
  validate <svc> <key> -f file [--profile p] check a value against every instance it would reach
  put <svc> <key> -f file [--profile p] [--wait 30s] [--force] [--expect-revision n]
  diff <svc> <dir> [--prune] [--profile p]   a folder of files against the keys (exit 1: differences)
  apply <svc> <dir> [--prune] [--dry-run] [--wait] [--force] [--profile p]
  history <svc> <key> [--limit n] [--profile p]
  rollback <svc> <key> <revision> [--wait] [--force] [--profile p]
  audit <svc> [--limit n]                    writes made through nest-etcd, newest first

Connection (the module's names and environment):
  --endpoints <urls>    comma separated (env ETCD_HOSTS, default http://127.0.0.1:2379)
  --user <name>         etcd user (env ETCD_USERNAME); the password only from env ETCD_PASSWORD
  --ca-file <path>      CA of the etcd server certificate (env ETCD_CA_FILE)
  --cert-file <path>    client certificate (env ETCD_CERT_FILE)
  --key-file <path>     client key (env ETCD_KEY_FILE)
  --namespace <prefix>  the apps' namespace
  --timeout <dur>       connect timeout (default 5s)
  --actor <name>        recorded in the audit (default $USER@host)

Output: human tables by default, -o json for scripts.
Exit codes: 0 ok / no difference; 1 difference found or an instance rejected the change;
2 usage or validation error; 3 etcd unreachable, authentication or permission refused, or timeout.`;

/** Parses a command line (without `node` and the script). @internal */
export function parseCli(argv: readonly string[]): CliArgs | 'help' {
  const normalized = defaultWait(argv);
  let parsed;
  try {
    parsed = parseArgs({
      args: normalized,
      allowPositionals: true,
      strict: true,
      options: {
        output: { type: 'string', short: 'o' },
        endpoints: { type: 'string' },
        user: { type: 'string' },
        namespace: { type: 'string' },
        'ca-file': { type: 'string' },
        cacert: { type: 'string' },
        'cert-file': { type: 'string' },
        cert: { type: 'string' },
        'key-file': { type: 'string' },
        key: { type: 'string' },
        timeout: { type: 'string' },
        file: { type: 'string', short: 'f' },
        profile: { type: 'string' },
        wait: { type: 'string' },
        force: { type: 'boolean' },
        prune: { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        'expect-revision': { type: 'string' },
        limit: { type: 'string' },
        actor: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new CliUsageError(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) return 'help';
  const [command, ...rest] = positionals;
  if (!isCommand(command!)) {
    throw new CliUsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
  const names = COMMANDS[command];
  if (rest.length !== names.length) {
    throw new CliUsageError(
      `${command} takes ${names.length ? names.map(n => `<${n}>`).join(' ') : 'no arguments'}` +
        `, got ${rest.length === 0 ? 'none' : rest.join(' ')}\n\n${USAGE}`,
    );
  }
  const args: Record<string, string> = {};
  names.forEach((name, i) => (args[name] = rest[i]!));
  if ((command === 'validate' || command === 'put') && values.file === undefined) {
    throw new CliUsageError(`${command} needs -f <file> (the value; - reads stdin)`);
  }
  const output = values.output ?? 'table';
  if (output !== 'table' && output !== 'json') {
    throw new CliUsageError(`-o must be "json" or "table", got "${output}"`);
  }
  const result: CliArgs = {
    command,
    args,
    output,
    timeoutMs: values.timeout !== undefined ? duration('--timeout', values.timeout) : 5000,
    force: values.force ?? false,
    prune: values.prune ?? false,
    dryRun: values['dry-run'] ?? false,
  };
  const set = <K extends keyof CliArgs>(key: K, value: CliArgs[K] | undefined) => {
    if (value !== undefined) result[key] = value;
  };
  set('endpoints', values.endpoints);
  set('user', values.user);
  set('namespace', values.namespace);
  set('caFile', values['ca-file'] ?? values.cacert);
  set('certFile', values['cert-file'] ?? values.cert);
  set('keyFile', values['key-file'] ?? values.key);
  set('file', values.file);
  set('profile', values.profile);
  set('actor', values.actor);
  if (values.wait !== undefined) result.waitMs = duration('--wait', values.wait);
  if (values['expect-revision'] !== undefined) {
    result.expectRevision = integer('--expect-revision', values['expect-revision'], 0);
  }
  if (values.limit !== undefined) result.limit = integer('--limit', values.limit, 1);
  if (command === 'rollback') integer('<revision>', args.revision!, 1);
  return result;
}

/** `30s`, `500ms`, `2m`, or a number of seconds, in ms. @internal */
export function duration(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match)
    throw new CliUsageError(`${flag} takes a duration such as 30s, 500ms or 2m; got "${text}"`);
  const value = Number(match[1]);
  const unit = match[2] ?? 's';
  return Math.round(unit === 'ms' ? value : unit === 's' ? value * 1000 : value * 60_000);
}

/** An integer flag or argument >= `min`. @internal */
export function integer(flag: string, text: string, min: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min) {
    throw new CliUsageError(`${flag} takes an integer >= ${min}; got "${text}"`);
  }
  return value;
}

/** `--wait` may stand alone: give it the default duration. */
function defaultWait(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    out.push(arg);
    if (arg === '--wait') {
      const next = argv[i + 1];
      if (next === undefined || !/^\d/.test(next)) out.push(DEFAULT_WAIT);
    }
  }
  return out;
}

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}
