import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/build-lib.js';
import {
  type DocBlock,
  type DocError,
  blocksOf,
  docFiles,
  extractTsBlocks,
  formatErrors,
  typeCheckBlocks,
} from './doc-blocks.js';

/**
 * Every ```ts / ```typescript block of README.md and docs/*.md compiles, each as its own ES
 * module, against the package built from lib/ (`import ... from 'nest-etcd'` resolves to the
 * build's declarations and the package.json `exports`), strict mode. A failure names the file,
 * the line in it and tsc's error, e.g. `docs/config.md:212:17 TS2339 Property 'next' does not
 * exist on type 'ConfigValue<string>'.`
 */

// Inside the repository, so the blocks resolve @nestjs/*, rxjs, ... from its node_modules.
const WORK_ROOT = join(REPO_ROOT, 'node_modules', '.cache', 'nest-etcd-docs-compile');

describe('extractTsBlocks', () => {
  it('finds ts and typescript blocks with their first code line, indented ones too', () => {
    const md = [
      '# Title', // 1
      '```ts', // 2
      'const a = 1;', // 3
      '```', // 4
      '```bash', // 5
      'echo no', // 6
      '```', // 7
      '- item', // 8
      '  ```typescript title="x"', // 9
      '  const b = 2;', // 10
      '    const c = 3;', // 11
      '  ```', // 12
      '````ts', // 13
      '```', // 14: inside a 4-backtick fence
      '````', // 15
    ].join('\n');
    expect(extractTsBlocks('x.md', md)).toEqual<DocBlock[]>([
      { doc: 'x.md', line: 3, code: 'const a = 1;' },
      { doc: 'x.md', line: 10, code: 'const b = 2;\n  const c = 3;' },
      { doc: 'x.md', line: 14, code: '```' },
    ]);
  });
});

describe('TypeScript blocks of README.md and docs/*.md', () => {
  let dir: string;
  let blocks: DocBlock[];
  let errors: DocError[];
  const planted: DocBlock = {
    doc: 'planted.md',
    line: 40,
    code: "import { EtcdModule } from 'nest-etcd';\nEtcdModule.forRoot({});\nconst n: number = 'text';",
  };

  beforeAll(async () => {
    dir = join(WORK_ROOT, `${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
    await mkdir(dir, { recursive: true });
    blocks = [];
    for (const doc of await docFiles()) blocks.push(...(await blocksOf(doc)));
    // One planted error proves that a failure is seen and mapped to its doc and line.
    errors = await typeCheckBlocks(dir, [...blocks, planted]);
    // Two tsc runs (declarations, then the blocks; a third only when a block has a syntax error),
    // each bounded at 120 s in doc-blocks.ts: the hook's timeout sits above the sum of two, so a
    // slow run fails by its own message, not by jest's.
  }, 270_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('extracts the blocks (README.md has at least one)', () => {
    expect(blocks.filter(b => b.doc === 'README.md').length).toBeGreaterThan(0);
  });

  it('reports an error with its doc, line and tsc code (planted block)', () => {
    expect(errors.filter(e => e.doc === 'planted.md')).toEqual([
      expect.objectContaining({ line: 42, code: 'TS2322' }),
    ]);
    expect(formatErrors(errors.filter(e => e.doc === 'planted.md'))).toMatch(
      /^planted\.md:42:7 TS2322 Type 'string' is not assignable to type 'number'\.$/,
    );
  });

  it('every block compiles against the built package', () => {
    const real = errors.filter(e => e.doc !== 'planted.md');
    if (real.length > 0) {
      throw new Error(
        `${real.length} TypeScript error(s) in documentation blocks (file:line:column):\n` +
          formatErrors(real),
      );
    }
    expect(real).toEqual([]);
  });
});
