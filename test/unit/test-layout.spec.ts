import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The layout of test/ (docs/architecture.md): kits live in test/support/, and
 * specs outside test/unit/ reach lib/ only through its public entries or test/support/internals.ts.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const testDir = join(root, 'test');

/** lib/ files that are public entries (package.json "exports"). */
const PUBLIC_ENTRIES = [
  'lib/index.ts',
  'lib/microservices.ts',
  'lib/grpc.ts',
  'lib/terminus.ts',
  'lib/console/index.ts',
  'lib/admin/index.ts',
];

/** test/support files allowed to import lib/ internals, and why. */
const INTERNAL_ROUTES: Record<string, string> = {
  'test/support/internals.ts': 'the one documented route from e2e/chaos specs to internals',
  'test/support/fake-informer-port.ts': "the informer's port, faked for unit specs of the engine",
  'test/support/fake-clock.ts': 'the Clock, faked for unit specs of every engine',
  'test/support/fake-lease-port.ts': "the lease engine's port, faked for unit specs of its users",
  'test/support/fake-lease-kv.ts': 'the election and lock ports, faked for their unit specs',
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|mjs)$/.test(entry.name) ? [path] : [];
  });
}

/** Relative module specifiers of `import`/`export ... from` and `import('...')`, comments removed. */
function relativeSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"](\.[^'"]+)['"]/g,
    /\bimport\s*\(\s*['"](\.[^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) found.push(match[1]!);
  }
  return found;
}

const files = sourceFiles(testDir).map(path => relative(root, path).split('\\').join('/'));

/**
 * The layers of lib/, lowest first (docs/architecture.md): a folder imports only its own layer and
 * the layers below it. The roof (lib/*.ts: index, module, providers, subpath entries) is last.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['common', 'errors'],
  ['options'],
  ['client'],
  ['lease', 'watch'],
  ['config', 'discovery'],
  ['registry'],
  ['election', 'lock', 'health', 'metrics'],
  ['admin'],
  ['cli', 'console'],
];

/** Layer of a lib/ folder (`lib/x/` -> index in LAYERS; the roof and unknown folders: last). */
function layerOf(folder: string): number {
  const name = folder.replace(/^lib\//, '').replace(/\/$/, '');
  const index = LAYERS.findIndex(layer => layer.includes(name));
  return index === -1 ? LAYERS.length : index;
}

/** lib/ folders and the lib/ folders they must never import, besides any higher layer. */
const FORBIDDEN_ARROWS: Record<string, (folder: string) => boolean> = {
  // options/ is the ground floor: it imports nothing above common/ and errors/.
  'lib/options/': folder => !['lib/options/', 'lib/common/', 'lib/errors/'].includes(folder),
  // discovery/ (the other services) sits under registry/ (this instance).
  'lib/discovery/': folder => folder === 'lib/registry/',
  // config and registry never import each other.
  'lib/config/': folder => folder === 'lib/registry/' || folder === 'lib/discovery/',
  'lib/registry/': folder => folder === 'lib/config/',
};

/** The lib/ folder of a repository-relative path (`lib/` itself for the roof files). */
function libFolder(path: string): string {
  const parts = path.split('/');
  return parts.length > 2 ? `${parts[0]}/${parts[1]}/` : 'lib/';
}

describe('lib/ layers', () => {
  it('imports point down the layers (none up, none to the roof); options/ on common/ and errors/ only, discovery/ under registry/, config and registry apart', () => {
    const offenders: string[] = [];
    const libFiles = sourceFiles(join(root, 'lib')).map(path =>
      relative(root, path).split('\\').join('/'),
    );
    for (const file of libFiles) {
      const from = libFolder(file);
      const forbidden = FORBIDDEN_ARROWS[from] ?? (() => false);
      for (const spec of relativeSpecifiers(readFileSync(join(root, file), 'utf8'))) {
        const target = relative(root, resolve(root, dirname(file), spec))
          .split('\\')
          .join('/');
        const to = libFolder(target);
        if (!target.startsWith('lib/')) offenders.push(`${file} imports ${spec} (outside lib/)`);
        else if (to !== from && (layerOf(to) > layerOf(from) || forbidden(to))) {
          offenders.push(`${file} imports ${spec}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });
});

describe('lib/ comments', () => {
  it('cite only documents inside the repository (docs/), never the design notes or an issue', () => {
    const outside = /\bDESIGN\b|\.\.\/shared\/|STYLE\.md|\b[Ii]ssue\s+#?\d/;
    const offenders: string[] = [];
    for (const path of sourceFiles(join(root, 'lib'))) {
      const lines = readFileSync(path, 'utf8').split('\n');
      lines.forEach((line, index) => {
        if (outside.test(line))
          offenders.push(`${relative(root, path)}:${index + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });
});

describe('test/ layout', () => {
  it('specs outside test/unit reach lib/ only through its public entries or test/support/internals.ts', () => {
    const offenders: string[] = [];
    for (const file of files) {
      if (file.startsWith('test/unit/') || file in INTERNAL_ROUTES) continue;
      for (const spec of relativeSpecifiers(readFileSync(join(root, file), 'utf8'))) {
        const target = relative(root, resolve(root, dirname(file), spec))
          .split('\\')
          .join('/')
          .replace(/\.js$/, '.ts');
        if (target.startsWith('lib/') && !PUBLIC_ENTRIES.includes(target)) {
          offenders.push(`${file} imports ${spec}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });

  it('test kits (modules that export) live in test/support/ or test/fixtures/, not next to specs', () => {
    const misplaced = files.filter(
      file =>
        !file.startsWith('test/support/') &&
        !file.startsWith('test/fixtures/') &&
        !file.endsWith('.spec.ts') &&
        /^export\s/m.test(readFileSync(join(root, file), 'utf8')),
    );
    // test/docs/doc-blocks.ts is the docs spec's own extractor, used by nothing else.
    expect(misplaced.filter(file => file !== 'test/docs/doc-blocks.ts')).toEqual([]);
  });
});
