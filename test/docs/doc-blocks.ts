import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { REPO_ROOT } from '../support/build-lib.js';

/** One ```ts / ```typescript block of a Markdown file. */
export interface DocBlock {
  /** Markdown file, relative to the repository root (e.g. `docs/config.md`). */
  doc: string;
  /** 1-based line in `doc` of the block's first code line (the line after the fence). */
  line: number;
  /** The code, with the fence's indentation removed. */
  code: string;
}

/** One tsc diagnostic, mapped back to the Markdown file and line. */
export interface DocError {
  doc: string;
  line: number;
  column: number;
  code: string;
  message: string;
}

const FENCE_OPEN = /^(\s*)(`{3,}|~{3,})\s*(ts|typescript)(\s.*)?$/i;

/** Extracts every ```ts / ```typescript block (indented blocks in lists too) of a Markdown text. */
export function extractTsBlocks(doc: string, markdown: string): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE_OPEN.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const fence = open[2]!;
    const body: string[] = [];
    let j = i + 1;
    const close = new RegExp(`^\\s*\\${fence[0]}{${fence.length},}\\s*$`);
    for (; j < lines.length; j++) {
      const l = lines[j]!;
      if (close.test(l)) break;
      body.push(l.slice(Math.min(indent, l.length - l.trimStart().length)));
    }
    blocks.push({ doc, line: i + 2, code: body.join('\n') });
    i = j;
  }
  return blocks;
}

/** README.md and every docs/*.md of the repository. */
export async function docFiles(root = REPO_ROOT): Promise<string[]> {
  const docs = (await readdir(join(root, 'docs')))
    .filter(name => name.endsWith('.md'))
    .sort()
    .map(name => `docs/${name}`);
  return ['README.md', ...docs];
}

/** File name (inside the check directory) of a block: keeps the doc and line readable. */
function blockFile(block: DocBlock): string {
  return `${block.doc.replace(/[/.]/g, '_')}__L${block.line}.ts`;
}

const DIAGNOSTIC = /^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$/;

/**
 * Type-checks `blocks` in `dir` (created; must lie inside the repository so `@nestjs/*`, `rxjs`...
 * resolve from its node_modules), each block as its own ES module, with `nest-etcd` resolving to
 * the package built from lib/ (declarations in `dir/node_modules/nest-etcd/dist`, the repository's
 * package.json for its `exports`). Resolves with the diagnostics mapped back to doc and line; a
 * diagnostic outside a block (in the package itself) is reported with its own path as `doc`.
 */
export async function typeCheckBlocks(dir: string, blocks: DocBlock[]): Promise<DocError[]> {
  const pkgDir = join(dir, 'node_modules', 'nest-etcd');
  await mkdir(join(dir, 'blocks'), { recursive: true });
  await mkdir(pkgDir, { recursive: true });
  await copyFile(join(REPO_ROOT, 'package.json'), join(pkgDir, 'package.json'));
  await tsc([
    '-p',
    join(REPO_ROOT, 'tsconfig.build.json'),
    '--outDir',
    join(pkgDir, 'dist'),
    '--emitDeclarationOnly',
    '--declaration',
    '--noCheck',
  ]).then(out => {
    if (out.code !== 0) throw new Error(`building the package's declarations failed:\n${out.text}`);
  });

  const byFile = new Map<string, DocBlock>();
  for (const block of blocks) {
    const file = blockFile(block);
    byFile.set(file, block);
    await writeFile(join(dir, 'blocks', file), block.code + '\n');
  }
  // tsc reports no semantic error at all while any file has a syntax error: a second pass without
  // the files that have one reports the other files' errors too.
  const first = await checkFiles(dir, [...byFile.keys()], byFile);
  const broken = new Set(first.filter(e => isSyntaxError(e)).map(e => e.file));
  if (broken.size === 0) return first.map(({ file: _, ...e }) => e);
  const rest = [...byFile.keys()].filter(f => !broken.has(f));
  const second = rest.length > 0 ? await checkFiles(dir, rest, byFile) : [];
  return [...first.filter(e => broken.has(e.file)), ...second].map(({ file: _, ...e }) => e);
}

/** TS1xxx: the parser's errors. */
function isSyntaxError(e: DocError): boolean {
  return /^TS1\d{3}$/.test(e.code);
}

async function checkFiles(
  dir: string,
  files: string[],
  byFile: Map<string, DocBlock>,
): Promise<(DocError & { file: string })[]> {
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'nest-etcd-docs-check', private: true, type: 'module' }) + '\n',
  );
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          moduleDetection: 'force',
          strict: true,
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          esModuleInterop: true,
          skipLibCheck: true,
          noEmit: true,
          types: ['node', 'jest'],
          typeRoots: [join(REPO_ROOT, 'node_modules', '@types')],
        },
        files: files.map(f => `blocks/${f}`),
      },
      null,
      2,
    ),
  );
  const out = await tsc(['-p', join(dir, 'tsconfig.json'), '--pretty', 'false']);
  const errors: (DocError & { file: string })[] = [];
  for (const raw of out.text.split('\n')) {
    const m = DIAGNOSTIC.exec(raw.trim());
    if (!m) {
      // continuation lines of a multi-line message belong to the previous error
      if (raw.startsWith(' ') && errors.length > 0)
        errors[errors.length - 1]!.message += ` ${raw.trim()}`;
      continue;
    }
    const [, path, line, column, code, message] = m;
    const block = byFile.get(basename(path!));
    errors.push({
      file: basename(path!),
      doc: block ? block.doc : relative(REPO_ROOT, path!),
      line: block ? block.line + Number(line) - 1 : Number(line),
      column: Number(column),
      code: code!,
      message: message!,
    });
  }
  if (out.code !== 0 && errors.length === 0) {
    throw new Error(`tsc failed without a diagnostic:\n${out.text}`);
  }
  return errors;
}

/** `README.md:120:5 TS2339 Property 'next' does not exist ...`, one line per error. */
export function formatErrors(errors: DocError[]): string {
  return errors.map(e => `${e.doc}:${e.line}:${e.column} ${e.code} ${e.message}`).join('\n');
}

/** The bound of one tsc run (killed past it, and the failure says so). */
const TSC_TIMEOUT_MS = 120_000;

function tsc(args: string[]): Promise<{ code: number; text: string }> {
  const bin = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  return new Promise(resolve => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: REPO_ROOT, timeout: TSC_TIMEOUT_MS, env: { ...process.env, NODE_OPTIONS: '' } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        const killed = err?.killed
          ? ` (tsc killed: it did not end within ${TSC_TIMEOUT_MS} ms, the bound of one tsc run)`
          : '';
        resolve({
          code,
          text: `${stdout}${stderr}${err ? `\n(${err.message.split('\n')[0]})${killed}` : ''}`,
        });
      },
    );
  });
}

/** Reads a Markdown file of the repository and extracts its TypeScript blocks. */
export async function blocksOf(doc: string): Promise<DocBlock[]> {
  return extractTsBlocks(doc, await readFile(join(REPO_ROOT, doc), 'utf8'));
}
