import type { IKeyValue } from 'etcd3';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { KeyChange } from './admin.interfaces.js';
import { type AdminContext, keyOf, textOf } from './admin-context.js';
import { diffLines } from './text-diff.js';

/** etcd's default `--max-txn-ops`: operations per txn side. */
export const MAX_TXN_OPS = 128;

/** One file of a folder, as the key it becomes. @internal */
export interface FolderFile {
  /** Path relative to the folder, `/`-separated: the config key. */
  file: string;
  etcdKey: string;
  text: string;
}

/** A planned change with what `apply` needs to write it. @internal */
export interface PlannedChange extends KeyChange {
  /** The new text (creates and updates). */
  text?: string;
}

/** What `apply` created for a service (kubectl's ApplySet), stored at `<applySets prefix><svc>`. @internal */
export interface ApplySetRecord {
  keys: string[];
}

/**
 * Every regular file below `dir` (dot files and dot folders skipped), as keys under `base`
 * (`<prefix>` or `<prefix>@<profile>/`), sorted. @internal
 */
export async function readFolder(dir: string, base: string): Promise<FolderFile[]> {
  const files: FolderFile[] = [];
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const path = join(at, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        const file = relative(dir, path).split(sep).join('/');
        files.push({ file, etcdKey: base + file, text: await readFile(path, 'utf8') });
      }
    }
  };
  await walk(dir);
  return files.sort((a, b) => (a.etcdKey < b.etcdKey ? -1 : 1));
}

/** The ApplySet record of a service (empty when none). @internal */
export async function readApplySet(ctx: AdminContext, service: string): Promise<ApplySetRecord> {
  const kv = await ctx.read(applySetKey(ctx, service), 'read the apply set');
  if (!kv) return { keys: [] };
  try {
    const parsed = JSON.parse(textOf(kv)) as { keys?: unknown };
    const keys = Array.isArray(parsed.keys)
      ? parsed.keys.filter((k): k is string => typeof k === 'string')
      : [];
    return { keys };
  } catch {
    return { keys: [] };
  }
}

/** Where a service's ApplySet is recorded. @internal */
export function applySetKey(ctx: AdminContext, service: string): string {
  return `${ctx.prefixes.applySets}${service}`;
}

/**
 * What writing `files` under `base` would change; with `prune`, the keys of the ApplySet under
 * `base` that the folder no longer has are deletes. Sorted by etcd key. @internal
 */
export async function planChanges(
  ctx: AdminContext,
  base: string,
  files: readonly FolderFile[],
  applySet: ApplySetRecord,
  prune: boolean,
): Promise<PlannedChange[]> {
  const current = new Map<string, IKeyValue>();
  for (const kv of await ctx.list(base, 'list')) current.set(keyOf(kv), kv);
  const changes: PlannedChange[] = files.map(file => {
    const kv = current.get(file.etcdKey);
    const before = kv ? textOf(kv) : undefined;
    const action = !kv ? 'create' : before === file.text ? 'unchanged' : 'update';
    return {
      etcdKey: file.etcdKey,
      file: file.file,
      action,
      revision: kv ? Number(kv.mod_revision) : 0,
      diff: action === 'unchanged' ? [] : diffLines(before, file.text),
      text: file.text,
    };
  });
  if (prune) {
    const inFolder = new Set(files.map(f => f.etcdKey));
    for (const key of applySet.keys) {
      const kv = current.get(key);
      if (!key.startsWith(base) || inFolder.has(key) || !kv) continue;
      changes.push({
        etcdKey: key,
        action: 'delete',
        revision: Number(kv.mod_revision),
        diff: diffLines(textOf(kv), undefined),
      });
    }
  }
  return changes.sort((a, b) => (a.etcdKey < b.etcdKey ? -1 : 1));
}
