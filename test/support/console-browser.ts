import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium (package `chromium`; .ci/run installs it when missing). Never downloaded. */
export const CHROMIUM = '/usr/bin/chromium';

/** The flags of every headless run: no sandbox (root in CI), no GPU, nothing reached outside. */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Headless Chromium driven by playwright-core, with a fresh profile (`--user-data-dir` in a temp
 * dir, removed by `close()`). One per spec file; `page()` opens a tab.
 */
export class ConsoleBrowser {
  private constructor(
    private readonly context: BrowserContext,
    private readonly profileDir: string,
  ) {}

  static async launch(): Promise<ConsoleBrowser> {
    const profileDir = await mkdtemp(join(tmpdir(), 'nest-etcd-chromium-'));
    try {
      const context = await chromium.launchPersistentContext(profileDir, {
        executablePath: CHROMIUM,
        headless: true,
        args: ARGS,
        viewport: { width: 1280, height: 800 },
      });
      return new ConsoleBrowser(context, profileDir);
    } catch (err) {
      await rm(profileDir, { recursive: true, force: true });
      throw err;
    }
  }

  /** A new tab. */
  page(): Promise<Page> {
    return this.context.newPage();
  }

  async close(): Promise<void> {
    try {
      await this.context.close();
    } finally {
      await rm(this.profileDir, { recursive: true, force: true });
    }
  }
}

/**
 * Takes a full-page screenshot (the page rendered as a PNG). With `UPDATE_SCREENSHOTS=1` it is
 * written to docs/console/<name>.png (the pictures docs/console.md shows); otherwise a test run
 * leaves the tracked files alone.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    const dir = join(process.cwd(), 'docs', 'console');
    await mkdir(dir, { recursive: true });
    await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
    return;
  }
  const png = await page.screenshot({ fullPage: true });
  // PNG signature: the page was rendered into an image.
  if (png.length < 1000 || png.readUInt32BE(0) !== 0x89504e47) {
    throw new Error(`the screenshot of the console's "${name}" page is not a PNG image`);
  }
}
