import { builtinModules } from 'node:module';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const libDir = join(root, 'lib');

interface Manifest {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|cts)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/**
 * Module specifiers of `import ... from`, `export ... from`, side-effect `import '...'`, `import('...')`
 * and `require('...')`, with comments removed first so TSDoc examples do not count.
 */
function specifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) found.push(match[1]!);
  }
  return found;
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function isBare(specifier: string): boolean {
  return !specifier.startsWith('.') && !specifier.startsWith('/') && !specifier.startsWith('#');
}

function isBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtinModules.includes(packageName(specifier));
}

describe('the specifier scanner', () => {
  it('finds every kind of import and ignores comments', () => {
    const source = [
      "import { a } from 'pkg-a';",
      "import type { B } from '@scope/pkg-b/sub';",
      "export { c } from 'pkg-c';",
      "export * from './local.js';",
      "import 'pkg-d';",
      'import {',
      '  e,',
      "} from 'pkg-e';",
      "const f = await import('pkg-f');",
      "// import { x } from 'commented-out';",
      "/** @example import { y } from 'in-tsdoc'; */",
      "const url = 'http://example.com'; import { g } from 'pkg-g';",
    ].join('\n');
    const found = specifiers(source);
    expect(found.filter(isBare).map(packageName).sort()).toEqual(
      ['@scope/pkg-b', 'pkg-a', 'pkg-c', 'pkg-d', 'pkg-e', 'pkg-f', 'pkg-g'].sort(),
    );
    expect(found.filter(s => !isBare(s))).toEqual(['./local.js']);
    expect(['node:fs', 'fs/promises', 'etcd3'].filter(isBuiltin)).toEqual([
      'node:fs',
      'fs/promises',
    ]);
  });
});

describe('package.json manifest', () => {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest;
  const declared = new Set([
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
  ]);
  const files = sourceFiles(libDir);
  const used = new Map<string, string[]>();
  for (const file of files) {
    for (const specifier of specifiers(readFileSync(file, 'utf8'))) {
      if (!isBare(specifier) || isBuiltin(specifier)) continue;
      const name = packageName(specifier);
      used.set(name, [...(used.get(name) ?? []), relative(root, file)]);
    }
  }

  it('scans the library sources', () => {
    expect(files.length).toBeGreaterThan(10);
    // the library is built on these; if the scan finds none of them it is broken
    expect([...used.keys()]).toEqual(expect.arrayContaining(['@nestjs/common', 'etcd3', 'rxjs']));
  });

  it('declares every package imported by lib/ in dependencies or peerDependencies', () => {
    const missing = [...used]
      .filter(([name]) => !declared.has(name))
      .map(([name, where]) => `${name} (imported by ${where.join(', ')})`);
    expect(missing).toEqual([]);
  });

  it('declares every peer dependency as a devDependency too, so the tests run against it', () => {
    const dev = manifest.devDependencies ?? {};
    const missing = Object.keys(manifest.peerDependencies ?? {}).filter(name => !(name in dev));
    expect(missing).toEqual([]);
  });

  it('does not declare a package twice as dependency and peer dependency', () => {
    const both = Object.keys(manifest.dependencies ?? {}).filter(
      name => name in (manifest.peerDependencies ?? {}),
    );
    expect(both).toEqual([]);
  });

  it('every subpath export (nest-etcd/terminus, ...) is built from a lib/ entry file', () => {
    const exportsMap = (manifest as { exports?: Record<string, unknown> }).exports ?? {};
    expect(Object.keys(exportsMap)).toEqual(expect.arrayContaining(['.', './terminus']));
    const broken: string[] = [];
    for (const [subpath, target] of Object.entries(exportsMap)) {
      if (typeof target !== 'object' || target === null) continue; // ./package.json
      const { types, import: esm } = target as { types?: string; import?: string };
      const source = esm?.replace(/^\.\/dist\//, 'lib/').replace(/\.js$/, '.ts');
      if (!source || !existsSync(join(root, source))) broken.push(`${subpath}: no ${source}`);
      if (types !== esm?.replace(/\.js$/, '.d.ts')) broken.push(`${subpath}: types ${types}`);
    }
    expect(broken).toEqual([]);
  });
});
