import type { INestApplication } from '@nestjs/common';
import type { Page } from 'playwright-core';
import { ConsoleBrowser, screenshot } from '../../support/console-browser.js';
import { useEtcdSuite } from '../../support/etcd-suite.js';
import { closeAll } from '../../support/nest-apps.js';
import { startConsoleApp } from '../../fixtures/console/console-app.js';
import { FastifyConsoleChild } from '../../fixtures/console/fastify-console-app.launcher.js';
import { SHOP, SHOP_PREFIX, startShopInstance } from '../../fixtures/console/shop-instance.js';

/**
 * The console in headless Chromium (playwright-core, Debian's /usr/bin/chromium), against real etcd
 * and real instances of a service (Nest apps with the registry and config status on). Each page
 * seen is a screenshot (written to docs/console/<page>.png, which docs/console.md shows, when
 * UPDATE_SCREENSHOTS=1).
 */

/** Bound of every wait on the page: instances register, report and the page refreshes (250 ms). */
const UI_WAIT = 20_000;
const LIMITS = `${SHOP_PREFIX}limits.yaml`;

describe('console: in a real browser', () => {
  const suite = useEtcdSuite({ buildLib: true });
  let browser: ConsoleBrowser;
  const instances: INestApplication[] = [];
  const pages: Page[] = [];

  beforeAll(async () => {
    browser = await ConsoleBrowser.launch();
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    await Promise.allSettled(pages.splice(0).map(p => p.close()));
    await closeAll(instances);
  });

  async function open(url: string): Promise<Page> {
    const page = await browser.page();
    pages.push(page);
    page.on('dialog', dialog => {
      throw new Error(`a dialog opened on ${page.url()}: ${dialog.message()}`);
    });
    const response = await page.goto(url);
    expect(response?.status()).toBe(200);
    return page;
  }

  /** The revision the console reports after a publish (`Published: revision N.`). */
  async function publishedRevision(page: Page): Promise<number> {
    const text = await page.locator('.msg.ok').textContent();
    const match = /Published: revision (\d+)/.exec(text ?? '');
    if (!match) throw new Error(`no "Published: revision N" message on ${page.url()}: ${text}`);
    return Number(match[1]);
  }

  async function instance(instanceId: string, profiles?: string[], zone?: string) {
    const app = await startShopInstance({ hosts: suite.etcd.endpoint, instanceId, profiles, zone });
    instances.push(app);
    return app;
  }

  async function consoleApp(readOnly = false) {
    const started = await startConsoleApp({ hosts: suite.etcd.endpoint, readOnly });
    suite.apps.push(started.app);
    return started.url;
  }

  it('services -> instances: an instance appears and vanishes on the open page (live)', async () => {
    await suite.etcd.put(LIMITS, 'max: 5\n');
    const url = await consoleApp();
    await instance('shop-1', [], 'eu-1');

    const page = await open(url);
    await page.locator(`tr[data-service="${SHOP}"]`).waitFor({ timeout: UI_WAIT });
    await screenshot(page, 'services');

    await page.click(`tr[data-service="${SHOP}"] a`);
    const row = page.locator('tr[data-instance="shop-1"]');
    await row.waitFor({ timeout: UI_WAIT });
    await expect(row.textContent()).resolves.toContain('eu-1');
    await expect(row.textContent()).resolves.toMatch(/127\.0\.0\.1:\d+/);

    const second = await instance('shop-2');
    await page.locator('tr[data-instance="shop-2"]').waitFor({ timeout: UI_WAIT });
    await page
      .locator('tr[data-instance="shop-1"] [data-config-revision]:not([data-config-revision=""])')
      .waitFor({ timeout: UI_WAIT });
    await screenshot(page, 'service');

    await second.close();
    instances.splice(instances.indexOf(second), 1);
    await page
      .locator('tr[data-instance="shop-2"]')
      .waitFor({ state: 'detached', timeout: UI_WAIT });
    await expect(page.locator('tr[data-instance="shop-1"]').count()).resolves.toBe(1);
  });

  it('edit: an invalid value is refused with the schema message and nothing is written; a valid one is previewed, published, applied by every instance, then rolled back from history', async () => {
    await suite.etcd.put(LIMITS, 'max: 5\n');
    await suite.etcd.put(`${SHOP_PREFIX}flags.json`, '{"flag": true}');
    const configBefore = await suite.etcd.getPrefix('/config/');
    const url = await consoleApp();
    await Promise.all([instance('shop-1'), instance('shop-2')]);

    const page = await open(`${url}/services/${SHOP}/config`);
    const keyRow = page.locator('tr[data-key="limits.yaml"]');
    await keyRow.locator('[data-instance="shop-2"]').waitFor({ timeout: UI_WAIT });
    await screenshot(page, 'config');
    // every stored key is listed with its value (EtcdAdmin.list: one range read per layer)
    await expect(page.locator('tr[data-key="flags.json"]').textContent()).resolves.toContain(
      '"flag": true',
    );

    await keyRow.locator('a').first().click();
    await page.locator('textarea[name="text"]').waitFor();
    await page.fill('textarea[name="text"]', 'max: -3\n');
    await page.click('form.edit button[type="submit"]');
    const alert = page.locator('.msg.bad');
    await expect(alert.textContent()).resolves.toMatch(/Refused, nothing was written/);
    await expect(alert.textContent()).resolves.toMatch(/max/);
    await screenshot(page, 'refused');
    expect(await suite.etcd.get(LIMITS)).toBe('max: 5\n');
    expect(await suite.etcd.getPrefix('/config/')).toEqual(configBefore);
    expect((await suite.etcd.getPrefix('/config-audit/')).size).toBe(0);

    await page.fill('textarea[name="text"]', 'max: 8\n');
    await page.click('form.edit button[type="submit"]');
    await expect(page.locator('#preview-diff .add').textContent()).resolves.toContain('max: 8');
    await expect(page.locator('#preview-diff .del').textContent()).resolves.toContain('max: 5');
    await screenshot(page, 'preview');
    expect(await suite.etcd.get(LIMITS)).toBe('max: 5\n');

    await page.click('form.publish button[type="submit"]');
    const published = await publishedRevision(page);
    expect(await suite.etcd.get(LIMITS)).toBe('max: 8\n');
    for (const id of ['shop-1', 'shop-2']) {
      await page
        .locator(`#key-instances [data-instance="${id}"][data-revision="${published}"]`)
        .waitFor({ timeout: UI_WAIT });
    }
    await screenshot(page, 'key');

    // A defaults to the revision before the current one (max: 5), B to the current one.
    const previous = await page.locator('input[name="a"]:checked').getAttribute('value');
    await page.click('#history-diff button[type="submit"]');
    await expect(page.locator('.diff .add').textContent()).resolves.toContain('max: 8');
    await screenshot(page, 'history-diff');

    await page.click(`button[data-rollback="${previous}"]`);
    await expect(page.locator('.msg.ok').textContent()).resolves.toMatch(
      /Rolled back: revision \d+/,
    );
    expect(await suite.etcd.get(LIMITS)).toBe('max: 5\n');

    await page.goto(`${url}/services/${SHOP}/audit`);
    const audit = await page.locator('table').textContent();
    expect(audit).toMatch(/browser-test[\s\S]*rollback/);
    expect(audit).toMatch(/put/);
    await screenshot(page, 'audit');
  });

  it('gray release: a value published under a profile reaches only the instances with that profile, is dropped, then promoted to base', async () => {
    await suite.etcd.put(LIMITS, 'max: 5\n');
    const baseRevision = await suite.etcd.revision();
    const url = await consoleApp();
    await Promise.all([instance('shop-1'), instance('shop-canary', ['canary'])]);

    const page = await open(`${url}/services/${SHOP}/key?key=limits.yaml&profile=canary`);
    await page
      .locator('#key-instances tr[data-instance="shop-canary"]')
      .waitFor({ timeout: UI_WAIT });
    await expect(page.locator('#key-instances').textContent()).resolves.not.toContain('shop-1');
    await page.fill('textarea[name="text"]', 'max: 20\n');
    await page.click('form.edit button[type="submit"]');
    await page.click('form.publish button[type="submit"]');
    const published = await publishedRevision(page);
    await page
      .locator(`#key-instances [data-instance="shop-canary"][data-revision="${published}"]`)
      .waitFor({ timeout: UI_WAIT });
    expect(await suite.etcd.get(`${SHOP_PREFIX}@canary/limits.yaml`)).toBe('max: 20\n');
    expect(await suite.etcd.get(LIMITS)).toBe('max: 5\n');
    await screenshot(page, 'gray-release');

    // Drop: the overlay is deleted, the canary instance serves the base value again.
    await page.click('button:has-text("Drop")');
    await expect(page.locator('.msg.ok').textContent()).resolves.toMatch(/Overlay dropped/);
    expect(await suite.etcd.get(`${SHOP_PREFIX}@canary/limits.yaml`)).toBeUndefined();
    const base = await open(`${url}/services/${SHOP}/key?key=limits.yaml`);
    await base
      .locator(`#key-instances [data-instance="shop-canary"][data-revision="${baseRevision}"]`)
      .waitFor({ timeout: UI_WAIT });

    // Published again under the profile, then promoted.
    await page.goto(`${url}/services/${SHOP}/key?key=limits.yaml&profile=canary`);
    await page.fill('textarea[name="text"]', 'max: 20\n');
    await page.click('form.edit button[type="submit"]');
    await page.click('form.publish button[type="submit"]');
    await publishedRevision(page);
    await page.click('button:has-text("Promote to base")');
    await expect(page.locator('.msg.ok').textContent()).resolves.toMatch(/Promoted to base/);
    expect(await suite.etcd.get(LIMITS)).toBe('max: 20\n');
  });

  it('safe by default: a read-only console refuses a forged POST; a writable one refuses a cross-origin POST without a token', async () => {
    await suite.etcd.put(LIMITS, 'max: 5\n');
    const readOnlyUrl = await consoleApp(true);
    await instance('shop-1');

    const page = await open(`${readOnlyUrl}/services/${SHOP}/key?key=limits.yaml`);
    await expect(page.locator('textarea').count()).resolves.toBe(0);
    await expect(page.locator('form[method="post"]').count()).resolves.toBe(0);
    await expect(page.locator('header .mode').textContent()).resolves.toContain('read-only');

    const form = new URLSearchParams({ key: 'limits.yaml', text: 'max: 1\n' });
    const forged = await fetch(`${readOnlyUrl}/services/${SHOP}/publish`, {
      method: 'POST',
      body: form,
    });
    expect(forged.status).toBe(403);
    expect(await forged.text()).toContain('read-only');

    const writableUrl = await consoleApp(false);
    const crossOrigin = await fetch(`${writableUrl}/services/${SHOP}/publish`, {
      method: 'POST',
      body: form,
      headers: { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    expect(crossOrigin.status).toBe(403);
    const noToken = await fetch(`${writableUrl}/services/${SHOP}/publish`, {
      method: 'POST',
      body: form,
    });
    expect(noToken.status).toBe(403);
    expect(await noToken.text()).toMatch(/nothing was written/);
    expect(await suite.etcd.get(LIMITS)).toBe('max: 5\n');
  });

  it('escapes what it renders: a service name, metadata and a key holding markup are shown as text, never run', async () => {
    const evil = '<img src=x onerror="window.__xss=1">';
    await suite.etcd.put(
      `/services/${evil}/i-1`,
      JSON.stringify({
        host: '127.0.0.1',
        port: 1,
        metadata: { note: '<script>window.__xss=2</script>' },
      }),
    );
    const url = await consoleApp();
    await instance('shop-1');
    const page = await open(url);
    await page.locator('tr[data-service]').first().waitFor({ timeout: UI_WAIT });
    await expect(page.locator('table').textContent()).resolves.toContain(evil);
    await page.locator('tr[data-service] a').first().click();
    await page.locator('tr[data-instance="i-1"]').waitFor({ timeout: UI_WAIT });
    await expect(page.locator('tr[data-instance="i-1"]').textContent()).resolves.toContain(
      '<script>',
    );
    const evilKey = '<img src=x onerror=window.__xss=3>.json';
    await page.goto(`${url}/services/${SHOP}/key?key=${encodeURIComponent(evilKey)}`);
    await expect(page.locator('h1').textContent()).resolves.toContain(evilKey);
    expect(
      await page.evaluate(() => (window as unknown as { __xss?: number }).__xss),
    ).toBeUndefined();
    await expect(page.locator('img[src="x"], main script').count()).resolves.toBe(0);
    await suite.etcd.del(`/services/${evil}/i-1`);
  });

  it('fastify: the console boots on the fastify platform and renders the services page', async () => {
    await instance('shop-1');
    const { url } = await FastifyConsoleChild.start(suite.etcd.endpoint);
    const page = await open(url);
    await page.locator(`tr[data-service="${SHOP}"]`).waitFor({ timeout: UI_WAIT });
    const css = await fetch(`${url}/assets/console.css`);
    expect(css.headers.get('content-type')).toContain('text/css');
    const res = await fetch(url);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
  });
});
