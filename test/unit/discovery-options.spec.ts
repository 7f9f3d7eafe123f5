import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidOptionsError } from '../../lib/index.js';
import { resolveEtcdOptions } from '../../lib/options/etcd-options.resolver.js';

describe('options of calls through the registry', () => {
  it('zone: registry.zone, else env ETCD_ZONE, else none', () => {
    expect(resolveEtcdOptions({}, {}).discovery.zone).toBeUndefined();
    expect(resolveEtcdOptions({}, { ETCD_ZONE: ' eu-1a ' }).discovery.zone).toBe('eu-1a');
    expect(resolveEtcdOptions({}, { ETCD_ZONE: '' }).discovery.zone).toBeUndefined();
    expect(
      resolveEtcdOptions({ registry: { serviceName: 'a', zone: 'us-2' } }, { ETCD_ZONE: 'eu-1a' })
        .discovery.zone,
    ).toBe('us-2');
    expect(() => resolveEtcdOptions({ registry: { serviceName: 'a', zone: '' } }, {})).toThrow(
      InvalidOptionsError,
    );
    expect(() =>
      resolveEtcdOptions({ registry: { serviceName: 'a', zone: 7 as never } }, {}),
    ).toThrow(/registry\.zone/);
  });

  it('passiveHealth: defaults 3 failures, 10 s; bad values are named', () => {
    expect(resolveEtcdOptions({}, {}).discovery.passiveHealth).toEqual({
      failures: 3,
      ejectFor: 10_000,
    });
    expect(
      resolveEtcdOptions({ passiveHealth: { failures: 5, ejectFor: 500 } }, {}).discovery
        .passiveHealth,
    ).toEqual({ failures: 5, ejectFor: 500 });
    expect(() => resolveEtcdOptions({ passiveHealth: { failures: 0 } }, {})).toThrow(
      /passiveHealth\.failures/,
    );
    expect(() => resolveEtcdOptions({ passiveHealth: { ejectFor: -1 } }, {})).toThrow(
      /passiveHealth\.ejectFor/,
    );
    expect(() => resolveEtcdOptions({ passiveHealth: 3 as never }, {})).toThrow(/"passiveHealth"/);
  });
});

describe('optional peers stay out of the main entry', () => {
  const lib = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib');

  /** Every package imported by the files reachable from `entry` through relative imports. */
  function packagesReachedFrom(entry: string): Set<string> {
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const code = readFileSync(file, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
      for (const match of code.matchAll(/\b(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        const spec = match[1]!;
        // `import type` is erased at compile time: it loads nothing.
        const statement = code.slice(
          Math.max(0, code.lastIndexOf('\n', match.index) + 1),
          match.index,
        );
        if (/^\s*(import|export)\s+type\b/.test(statement) && !spec.startsWith('.')) continue;
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
        else packages.add(spec);
      }
    };
    visit(join(lib, entry));
    return packages;
  }

  it('lib/index.ts never loads @nestjs/microservices; the subpath entries do', () => {
    const main = packagesReachedFrom('index.ts');
    expect([...main].filter(p => p.startsWith('@nestjs/microservices'))).toEqual([]);
    expect(packagesReachedFrom('microservices.ts').has('@nestjs/microservices')).toBe(true);
    expect(packagesReachedFrom('grpc.ts').has('@grpc/grpc-js')).toBe(true);
  });
});
