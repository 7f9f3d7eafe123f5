import 'reflect-metadata';
import { Test } from '@nestjs/testing';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { closestName, editDistance } from '../../lib/common/closest-name.js';
import { KNOWN_OPTION_KEYS } from '../../lib/options/known-option-keys.js';
import { resolveEtcdOptions } from '../../lib/options/etcd-options.resolver.js';
import {
  EtcdModule,
  InvalidOptionsError,
  NestEtcdError,
  UnknownOptionError,
  type EtcdModuleOptions,
} from '../../lib/index.js';

/** Misspelled options at any level are an error naming the closest valid key. */

const NO_ENV = {};

function rejection(options: unknown): UnknownOptionError {
  try {
    resolveEtcdOptions(options as EtcdModuleOptions, NO_ENV);
  } catch (err) {
    if (err instanceof UnknownOptionError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be rejected as unknown`);
}

describe('options: unknown keys', () => {
  it.each([
    [{ conifg: { prefix: '/c/' } }, 'conifg', 'config'],
    [{ registry: { serviceName: 'orders', tll: 5 } }, 'registry.tll', 'registry.ttl'],
    [{ config: { prefx: '/c/' } }, 'config.prefx', 'config.prefix'],
    [{ retry: { maxdelay: 10 } }, 'retry.maxdelay', 'retry.maxDelay'],
    [{ Hosts: 'http://127.0.0.1:2379' }, 'Hosts', 'hosts'],
    [{ keepAliveInterval: 1000 }, 'keepAliveInterval', 'keepaliveInterval'],
    [{ passiveHealth: { failure: 3 } }, 'passiveHealth.failure', 'passiveHealth.failures'],
  ])('%j: names %s and suggests %s', (options, option, suggestion) => {
    const err = rejection(options);
    expect(err).toBeInstanceOf(InvalidOptionsError);
    expect(err).toBeInstanceOf(NestEtcdError);
    expect(err.option).toBe(option);
    expect(err.suggestion).toBe(suggestion);
    expect(err.message).toContain(`"${option}"`);
    expect(err.message).toContain(`did you mean "${suggestion}"?`);
    expect(err.message.split('\n')).toHaveLength(1);
  });

  it('lists the valid keys when nothing is close', () => {
    const err = rejection({ registry: { serviceName: 'orders', completelyDifferent: true } });
    expect(err.suggestion).toBeUndefined();
    expect(err.message).toMatch(/valid options here: serviceName, instanceId, .*ttl/);
  });

  it('never echoes the value of a misspelled auth key (it may be the password)', () => {
    const err = rejection({ auth: { username: 'app', pasword: 's3cret-Value' } });
    expect(err.option).toBe('auth.pasword');
    expect(err.suggestion).toBe('auth.password');
    expect(inspect(err, { showHidden: true, depth: 5 })).not.toContain('s3cret-Value');
  });

  it('accepts every valid shape: free-form metadata, false sections, isGlobal', () => {
    expect(() =>
      resolveEtcdOptions(
        {
          isGlobal: false,
          config: false,
          registry: { serviceName: 'orders', metadata: { anyKey: 1, nested: { x: 1 } } },
        },
        NO_ENV,
      ),
    ).not.toThrow();
    expect(() => resolveEtcdOptions({ registry: false }, NO_ENV)).not.toThrow();
  });

  it('rejects a misspelled key returned by a forRootAsync factory', async () => {
    const compiling = Test.createTestingModule({
      imports: [
        EtcdModule.forRootAsync({
          useFactory: () =>
            ({ hosts: 'http://127.0.0.1:1', conifg: false }) as unknown as EtcdModuleOptions,
        }),
      ],
    }).compile();
    await expect(compiling).rejects.toBeInstanceOf(UnknownOptionError);
    await expect(compiling).rejects.toThrow('did you mean "config"?');
  });

  it('closestName: Levenshtein with a typo-sized bound', () => {
    expect(editDistance('tll', 'ttl')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(closestName('conifg', ['config', 'registry'])).toBe('config');
    expect(closestName('zzzzzz', ['config', 'registry'])).toBeUndefined();
  });

  it('KNOWN_OPTION_KEYS lists every key declared by the option interfaces', () => {
    const declared = declaredOptionKeys();
    for (const [level, keys] of Object.entries(declared)) {
      expect([level, [...(KNOWN_OPTION_KEYS[level] ?? [])].sort()]).toEqual([level, keys.sort()]);
    }
    expect(Object.keys(declared).sort()).toEqual(Object.keys(KNOWN_OPTION_KEYS).sort());
  });
});

// ---- reading the declared option keys from the TypeScript interfaces --------------------------

const LIB = join(dirname(fileURLToPath(import.meta.url)), '../../lib/options');

/** Interface name → body, for the options file and every file it imports types from. */
function interfaceBodies(): Map<string, string> {
  const bodies = new Map<string, string>();
  const files = ['etcd-module-options.interface.ts'];
  const seen = new Set<string>();
  while (files.length > 0) {
    const file = files.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(join(LIB, file), 'utf8');
    for (const match of source.matchAll(/from '\.\/([^']+)\.js'/g)) files.push(`${match[1]}.ts`);
    for (const match of source.matchAll(/export interface (\w+)[^{]*\{/g)) {
      bodies.set(match[1]!, bracedBody(source, match.index + match[0].length));
    }
  }
  return bodies;
}

/** The text up to the brace that closes the one opened just before `from`. */
function bracedBody(source: string, from: number): string {
  let depth = 1;
  for (let i = from; i < source.length; i++) {
    if (source[i] === '{') depth++;
    if (source[i] === '}' && --depth === 0) return source.slice(from, i);
  }
  throw new Error('unbalanced braces');
}

/** Top-level `name?: type` members of an interface body (comments removed). */
function members(body: string): Array<{ name: string; type: string }> {
  const code = body.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const found: Array<{ name: string; type: string }> = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= code.length; i++) {
    const char = code[i];
    if (char === '{' || char === '(' || char === '<') depth++;
    if (char === '}' || char === ')' || char === '>') depth--;
    if ((char === ';' || char === '\n' || i === code.length) && depth === 0) {
      const match = /^\s*(?:readonly\s+)?(\w+)\??\s*:\s*([\s\S]+)$/.exec(code.slice(start, i));
      if (match) found.push({ name: match[1]!, type: match[2]!.trim() });
      start = i + 1;
    }
  }
  return found;
}

function declaredOptionKeys(): Record<string, string[]> {
  const bodies = interfaceBodies();
  const top = members(bodies.get('EtcdModuleOptions')!);
  const levels: Record<string, string[]> = { '': top.map(member => member.name) };
  for (const { name, type } of top) {
    const inline = /\{([\s\S]*)\}/.exec(type);
    const referenced = [...bodies.keys()].find(candidate =>
      new RegExp(`\\b${candidate}\\b`).test(type),
    );
    if (referenced) levels[name] = members(bodies.get(referenced)!).map(member => member.name);
    else if (inline) levels[name] = members(inline[1]!).map(member => member.name);
  }
  return levels;
}
