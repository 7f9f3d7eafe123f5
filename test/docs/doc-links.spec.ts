import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { REPO_ROOT } from '../support/build-lib.js';
import { docFiles } from './doc-blocks.js';

/**
 * Every relative link of README.md and docs/*.md resolves: the file exists and, for `#anchor`, a
 * heading of that file has that anchor (GitHub's rule: lower case, punctuation dropped, spaces to
 * "-", a repeated heading gets "-1", "-2"...). Links inside code blocks and to other sites are not
 * checked.
 */

/** GitHub's anchor for a heading text. */
function slug(heading: string): string {
  return heading
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a markdown text, repeated headings numbered as GitHub does. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutCode(markdown)) {
    const match = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!match) continue;
    const base = slug(match[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** The lines outside fenced code blocks (code lines become empty, so line numbers hold). */
function withoutCode(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split('\n').map(line => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      return '';
    }
    return fence === undefined ? line : '';
  });
}

interface Link {
  doc: string;
  line: number;
  text: string;
  target: string;
}

function linksOf(doc: string, markdown: string): Link[] {
  const links: Link[] = [];
  withoutCode(markdown).forEach((text, index) => {
    const inline = text.replace(/`[^`]*`/g, '');
    for (const match of inline.matchAll(/\[([^\]]*)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = match[2]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      links.push({ doc, line: index + 1, text: match[1]!, target });
    }
  });
  return links;
}

describe('links between README.md and docs/*.md', () => {
  it('computes GitHub anchors', () => {
    expect(slug('16. Snapshot file and offline boot')).toBe('16-snapshot-file-and-offline-boot');
    expect(slug('Draining (`registry.drainDelay`)')).toBe('draining-registrydraindelay');
    expect(slug('Health (`@nestjs/terminus`)')).toBe('health-nestjsterminus');
    expect(slug('Node.js versions')).toBe('nodejs-versions');
    expect([...anchorsOf('# A\n```\n# not a heading\n```\n## A\n')]).toEqual(['a', 'a-1']);
  });

  it('every relative link points at an existing file and heading', async () => {
    const broken: string[] = [];
    let checked = 0;
    const anchorCache = new Map<string, Set<string>>();
    for (const doc of await docFiles()) {
      const markdown = readFileSync(join(REPO_ROOT, doc), 'utf8');
      for (const link of linksOf(doc, markdown)) {
        checked++;
        const [path = '', anchor] = link.target.split('#');
        const file = path === '' ? doc : normalize(join(dirname(doc), path));
        const where = `${link.doc}:${link.line} (${link.target})`;
        if (!existsSync(join(REPO_ROOT, file))) {
          broken.push(`${where}: no file ${file}`);
          continue;
        }
        if (anchor === undefined || !file.endsWith('.md')) continue;
        if (!anchorCache.has(file)) {
          anchorCache.set(file, anchorsOf(readFileSync(join(REPO_ROOT, file), 'utf8')));
        }
        if (!anchorCache.get(file)!.has(decodeURIComponent(anchor))) {
          broken.push(`${where}: no heading with anchor #${anchor} in ${file}`);
        }
        // "[section 9](#16-...)": the number a reader sees is the section the link goes to
        const said = /(?:section|§)\s*(\d+)/i.exec(link.text)?.[1];
        const numbered = /^(\d+)-/.exec(anchor)?.[1];
        if (said !== undefined && numbered !== undefined && said !== numbered) {
          broken.push(`${where}: says section ${said} but links to section ${numbered}`);
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect(broken).toEqual([]);
  });
});
