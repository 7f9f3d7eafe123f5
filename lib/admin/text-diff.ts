import type { DiffLine } from './admin.interfaces.js';

/** Above this many cells the LCS table is not built: the texts are shown as replaced. */
const MAX_CELLS = 4_000_000;

/**
 * A line diff of two texts (longest common subsequence), the one the CLI and the console render.
 * `undefined` stands for an absent key (no lines).
 */
export function diffLines(before: string | undefined, after: string | undefined): DiffLine[] {
  const a = splitLines(before);
  const b = splitLines(after);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const out: DiffLine[] = a.slice(0, start).map(text => ({ op: ' ', text }));
  out.push(...middle(a.slice(start, endA), b.slice(start, endB)));
  for (const text of a.slice(endA)) out.push({ op: ' ', text });
  return out;
}

/** Whether a diff has any added or removed line. */
export function hasChanges(lines: readonly DiffLine[]): boolean {
  return lines.some(line => line.op !== ' ');
}

/**
 * A diff as text: changed lines with `context` unchanged lines around them (`...` between hunks),
 * each prefixed by `-`, `+` or a space.
 */
export function renderDiff(lines: readonly DiffLine[], context = 3): string {
  const keep = new Array<boolean>(lines.length).fill(false);
  lines.forEach((line, i) => {
    if (line.op === ' ') return;
    for (let j = Math.max(0, i - context); j <= Math.min(lines.length - 1, i + context); j++) {
      keep[j] = true;
    }
  });
  const out: string[] = [];
  let skipped = false;
  lines.forEach((line, i) => {
    if (!keep[i]) {
      skipped = true;
      return;
    }
    if (skipped && out.length > 0) out.push('...');
    skipped = false;
    out.push(`${line.op}${line.text}`);
  });
  return out.join('\n');
}

function splitLines(text: string | undefined): string[] {
  if (text === undefined || text === '') return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function middle(a: string[], b: string[]): DiffLine[] {
  if (a.length === 0) return b.map(text => ({ op: '+', text }));
  if (b.length === 0) return a.map(text => ({ op: '-', text }));
  if (a.length * b.length > MAX_CELLS) {
    return [
      ...a.map(text => ({ op: '-' as const, text })),
      ...b.map(text => ({ op: '+' as const, text })),
    ];
  }
  // lcs[i][j]: length of the LCS of a[i..] and b[j..]
  const width = b.length + 1;
  const lcs = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i * width + j] =
        a[i] === b[j]
          ? lcs[(i + 1) * width + j + 1]! + 1
          : Math.max(lcs[(i + 1) * width + j]!, lcs[i * width + j + 1]!);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ op: ' ', text: a[i]! });
      i++;
      j++;
    } else if (lcs[(i + 1) * width + j]! >= lcs[i * width + j + 1]!) {
      out.push({ op: '-', text: a[i++]! });
    } else {
      out.push({ op: '+', text: b[j++]! });
    }
  }
  while (i < a.length) out.push({ op: '-', text: a[i++]! });
  while (j < b.length) out.push({ op: '+', text: b[j++]! });
  return out;
}
