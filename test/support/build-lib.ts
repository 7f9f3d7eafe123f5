import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the repository (this file is `test/support/build-lib.ts`). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const CACHE_DIR = join(REPO_ROOT, 'node_modules', '.cache', 'nest-etcd-test-lib');
const COMPLETE_MARKER = '.complete';

let building: Promise<string> | undefined;

/**
 * Compiles `lib/` to plain ESM JavaScript once and resolves with the directory holding the
 * compiled `index.js`, for child processes (which run outside jest and cannot load TypeScript).
 *
 * The output lives under `node_modules/.cache/` (so the compiled files resolve `@nestjs/*`,
 * `etcd3`, ... from the repository's node_modules) in a directory named after a hash of the
 * sources: an unchanged `lib/` is never compiled twice, and an edited one is compiled afresh.
 * Parallel jest workers never collide: each compiles into its own temp directory and renames it
 * into place atomically; whoever loses the race uses the winner's copy.
 */
export function buildLibOnce(): Promise<string> {
  building ??= build().catch((err: unknown) => {
    building = undefined;
    throw err;
  });
  return building;
}

async function build(): Promise<string> {
  const hash = await sourceHash();
  const target = join(CACHE_DIR, hash);
  if (existsSync(join(target, COMPLETE_MARKER))) return target;
  await mkdir(CACHE_DIR, { recursive: true });
  const temp = `${target}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await runTsc(temp);
    // The compiled files are ES modules; node_modules/ is no package scope, so say it here.
    await writeFile(join(temp, 'package.json'), '{ "type": "module" }\n');
    await writeFile(join(temp, COMPLETE_MARKER), new Date().toISOString());
    try {
      await rename(temp, target);
    } catch (err) {
      // Another worker got there first (ENOTEMPTY / EEXIST): use its copy.
      if (!existsSync(join(target, COMPLETE_MARKER))) throw err;
    }
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  await pruneOldBuilds(target);
  return target;
}

/** Removes builds of older sources (untouched for a day), so the cache does not grow for ever. */
async function pruneOldBuilds(keep: string): Promise<void> {
  const dayAgo = Date.now() - 24 * 3600 * 1000;
  for (const name of await readdir(CACHE_DIR).catch(() => [] as string[])) {
    const path = join(CACHE_DIR, name);
    if (path === keep) continue;
    try {
      if ((await stat(path)).mtimeMs < dayAgo) await rm(path, { recursive: true, force: true });
    } catch {
      // another worker removed it first
    }
  }
}

function runTsc(outDir: string): Promise<void> {
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [
    tsc,
    '-p',
    join(REPO_ROOT, 'tsconfig.build.json'),
    '--outDir',
    outDir,
    // Type checking is the job of `npm run lint`; an unrelated type error in a file being edited
    // must not stop a child-process test from running.
    '--noCheck',
    '--declaration',
    'false',
    '--declarationMap',
    'false',
    '--sourceMap',
    'false',
  ];
  return new Promise<void>((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { cwd: REPO_ROOT, timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } },
      (err, stdout, stderr) => {
        if (err && !existsSync(join(outDir, 'index.js'))) {
          reject(new Error(`compiling lib/ failed: ${err.message}\n${stdout}${stderr}`));
          return;
        }
        resolve();
      },
    );
  });
}

/** Hash of every file tsc reads for the build: lib sources and the tsconfig files. */
async function sourceHash(): Promise<string> {
  const hash = createHash('sha256');
  const files = [
    join(REPO_ROOT, 'tsconfig.json'),
    join(REPO_ROOT, 'tsconfig.build.json'),
    ...(await listTs(join(REPO_ROOT, 'lib'))),
  ];
  for (const file of files) {
    hash.update(relative(REPO_ROOT, file));
    hash.update('\0');
    hash.update(await readFile(file));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

async function listTs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listTs(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out.sort();
}

/** The compiled library entry (`index.js`) inside a {@link buildLibOnce} directory. */
export function libEntry(buildDir: string): string {
  return join(buildDir, 'index.js');
}
