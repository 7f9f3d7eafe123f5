import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIB = resolve(dirname(fileURLToPath(import.meta.url)), '../../lib');

/** Static imports of a file: `import ... from 'x'` and `export ... from 'x'` (not `import()`). */
function staticImports(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of source.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)) {
    if (!/^\s*(?:import|export)\s+type\s/.test(match[0])) found.push(match[1]!);
  }
  for (const match of source.matchAll(/^\s*import\s+'([^']+)'/gm)) found.push(match[1]!);
  return found;
}

/** Every package reached by static imports from `entry`, following relative imports. */
function packagesReachedFrom(entry: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const specifier of staticImports(file)) {
      if (specifier.startsWith('.'))
        stack.push(join(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else
        packages.add(
          specifier.startsWith('@')
            ? specifier.split('/').slice(0, 2).join('/')
            : specifier.split('/')[0]!,
        );
    }
  }
  return packages;
}

describe('optional peers stay optional', () => {
  it('the main entry never loads @nestjs/terminus, prom-client or @nestjs/schedule', () => {
    const reached = packagesReachedFrom(join(LIB, 'index.ts'));
    expect(reached.has('@nestjs/common')).toBe(true); // the walk works
    expect(
      [...reached].filter(p => ['@nestjs/terminus', 'prom-client', '@nestjs/schedule'].includes(p)),
    ).toEqual([]);
  });

  it('the nest-etcd/terminus entry is what loads @nestjs/terminus', () => {
    expect(packagesReachedFrom(join(LIB, 'terminus.ts')).has('@nestjs/terminus')).toBe(true);
  });
});
