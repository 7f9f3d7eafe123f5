import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

type Yaml = string | null | Yaml[] | { [key: string]: Yaml };

/**
 * A small reader for the block-style YAML subset docker-compose.yml uses: nested maps, `- item`
 * lists of scalars, quoted and plain scalars, one-line flow sequences `[a, 'b']` and comments.
 * Scalars stay strings (`'5s'`, `'2379:2379'`); an empty value is `null`. Anything else (anchors,
 * multi-line strings, flow maps) throws, so an unexpected file fails loudly instead of being misread.
 */
function parseYaml(text: string): Yaml {
  const lines = text
    .split('\n')
    .map((raw, index) => ({ number: index + 1, raw: stripComment(raw).replace(/\s+$/, '') }))
    .filter(line => line.raw.trim() !== '')
    .map(line => ({ ...line, indent: line.raw.length - line.raw.trimStart().length }));
  let pos = 0;

  function block(indent: number): Yaml {
    const first = lines[pos];
    if (!first || first.indent < indent) return null;
    const isList = first.raw.trimStart().startsWith('- ');
    const result: Yaml = isList ? [] : {};
    while (pos < lines.length) {
      const line = lines[pos]!;
      if (line.indent < first.indent) break;
      if (line.indent > first.indent) throw new Error(`line ${line.number}: unexpected indent`);
      const body = line.raw.trim();
      pos++;
      if (Array.isArray(result)) {
        if (!body.startsWith('- ')) throw new Error(`line ${line.number}: expected "- item"`);
        result.push(scalar(body.slice(2).trim(), line.number));
        continue;
      }
      const match = /^([A-Za-z0-9_.-]+|'[^']*'|"[^"]*"):(?:\s+(.*))?$/.exec(body);
      if (!match) throw new Error(`line ${line.number}: expected "key: value", got ${body}`);
      const key = match[1]!.replace(/^['"]|['"]$/g, '');
      if (key in result) throw new Error(`line ${line.number}: duplicate key ${key}`);
      const next = lines[pos];
      result[key] =
        match[2] !== undefined
          ? scalar(match[2], line.number)
          : next && next.indent > line.indent
            ? block(next.indent)
            : null;
    }
    return result;
  }

  const document = block(0);
  if (pos < lines.length) throw new Error(`line ${lines[pos]!.number}: could not parse`);
  return document;
}

function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) {
      return line.slice(0, i);
    }
  }
  return line;
}

function scalar(text: string, lineNumber: number): Yaml {
  if (text.startsWith('[')) {
    if (!text.endsWith(']')) throw new Error(`line ${lineNumber}: unterminated flow sequence`);
    const items = text.slice(1, -1).match(/'(?:[^']|'')*'|"(?:[^"\\]|\\.)*"|[^,\s][^,]*/g) ?? [];
    return items.map(item => scalar(item.trim(), lineNumber));
  }
  if (text.startsWith("'")) {
    if (!/^'(?:[^']|'')*'$/.test(text)) throw new Error(`line ${lineNumber}: bad quoted string`);
    return text.slice(1, -1).replace(/''/g, "'");
  }
  if (text.startsWith('"')) return JSON.parse(text) as string;
  if (/^[&*!|>{]/.test(text)) throw new Error(`line ${lineNumber}: unsupported YAML: ${text}`);
  return text === '~' || text === 'null' ? null : text;
}

function asMap(value: Yaml | undefined, what: string): Record<string, Yaml> {
  if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${what} is not a map`);
  }
  return value;
}

function asList(value: Yaml | undefined, what: string): Yaml[] {
  if (!Array.isArray(value)) throw new Error(`${what} is not a list`);
  return value;
}

/** The default of a compose `${VAR:-default}` substitution, or the text itself. */
function withDefault(value: Yaml | undefined, variable: string): string | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^\$\{([A-Z0-9_]+):-([^}]*)\}$/.exec(value);
  if (!match) return value;
  return match[1] === variable ? match[2] : undefined;
}

describe('the compose YAML reader', () => {
  it('reads nested maps, lists, quoted scalars, flow sequences and comments', () => {
    const doc = parseYaml(
      [
        '# comment',
        'a:',
        '  b: plain # trailing comment',
        "  c: 'it''s # not a comment'",
        '  d:',
        "    - '1:1'",
        '    - two',
        '  e: [\'CMD\', "x y", z]',
        'f:',
      ].join('\n'),
    );
    expect(doc).toEqual({
      a: { b: 'plain', c: "it's # not a comment", d: ['1:1', 'two'], e: ['CMD', 'x y', 'z'] },
      f: null,
    });
  });

  it('refuses what it does not understand', () => {
    expect(() => parseYaml('a: &anchor x')).toThrow(/unsupported/);
    expect(() => parseYaml('a:\n  b: 1\n    c: 2')).toThrow(/unexpected indent/);
    expect(() => parseYaml('a: 1\na: 2')).toThrow(/duplicate key/);
  });
});

describe('docker-compose.yml', () => {
  const compose = asMap(
    parseYaml(readFileSync(join(root, 'docker-compose.yml'), 'utf8')),
    'docker-compose.yml',
  );
  const services = asMap(compose.services, 'services');
  const etcd = asMap(services.etcd, 'services.etcd');
  const environment = asMap(etcd.environment, 'services.etcd.environment');

  it('runs etcd 3.5 from an image that creates the root user from ETCD_ROOT_PASSWORD', () => {
    expect(withDefault(etcd.image, 'ETCD_IMAGE')).toMatch(
      /^(docker\.io\/)?bitnami[a-z]*\/etcd:3\.5/,
    );
  });

  it('turns auth on with the root password from the environment and a default', () => {
    expect(environment.ETCD_ROOT_PASSWORD).toMatch(/^\$\{ETCD_ROOT_PASSWORD:-.+\}$/);
    expect(withDefault(environment.ETCD_ROOT_PASSWORD, 'ETCD_ROOT_PASSWORD')).not.toBe('');
    expect(environment.ALLOW_NONE_AUTHENTICATION).toBe('no');
  });

  it('publishes the client port 2379 on 2379 and listens on all interfaces inside', () => {
    expect(asList(etcd.ports, 'ports')).toContain('2379:2379');
    expect(environment.ETCD_LISTEN_CLIENT_URLS).toBe('http://0.0.0.0:2379');
  });

  it('has a healthcheck that runs etcdctl endpoint health with the root user', () => {
    const healthcheck = asMap(etcd.healthcheck, 'healthcheck');
    const test = asList(healthcheck.test, 'healthcheck.test');
    expect(['CMD', 'CMD-SHELL']).toContain(test[0]);
    const command = test
      .slice(1)
      .filter(part => typeof part === 'string')
      .join(' ');
    expect(command).toMatch(/etcdctl .*endpoint health/);
    // with auth on, an anonymous health check fails: it must authenticate as root
    expect(command).toContain('root:$$ETCD_ROOT_PASSWORD');
  });

  it('keeps the data in a named volume', () => {
    const volumes = asMap(compose.volumes, 'volumes');
    const mounts = asList(etcd.volumes, 'services.etcd.volumes').map(String);
    const named = mounts.map(mount => mount.split(':')[0]!).filter(source => source in volumes);
    expect(named).toHaveLength(1);
    expect(mounts.find(mount => mount.startsWith(`${named[0]}:`))).toMatch(/:\/bitnami\/etcd$/);
  });
});

describe('README.md agrees with docker-compose.yml', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');

  it.each([
    ['the command that starts it', 'docker compose up -d'],
    ['the published port', '2379'],
    ['the user the image creates', 'root'],
    ['the variable holding the root password', 'ETCD_ROOT_PASSWORD'],
    ['the user name variable read by the module', 'ETCD_USERNAME'],
    ['the password variable read by the module', 'ETCD_PASSWORD'],
  ])('mentions %s: %s', (_what, text) => {
    expect(readme).toContain(text);
  });

  it('names root as a user, not just as a word', () => {
    expect(readme).toMatch(/ETCD_USERNAME=root\b|user(name)? `?root`?|`root` user/i);
  });
});
