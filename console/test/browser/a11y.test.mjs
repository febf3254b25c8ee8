// axe-core on every console page, in English and Simplified Chinese: zero serious or critical
// violations (all violations are printed for diagnosis), exactly one h1, <html lang> equal to the
// chosen locale, a skip link to the main content, and every control at least 24×24 px or spaced
// so (WCAG 2.2 2.5.8). The signed-out pages (sign-in, password reset) are checked the same way.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, signedIn, watch, open, apiSend, stack } from './fixtures.mjs';
import { axe } from '../../../sdk-js/test/browser/a11y.mjs';

/** @type {import('playwright-core').Browser} */
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const LOCALES = /** @type {const} */ (['en', 'zh-CN']);
const SETTINGS_TABS = ['health', 'webhooks', 'keys', 'tokens', 'members', 'privacy'];

/** The signed-in pages: every route of the console, an account taken from the API. */
async function consolePages() {
  const answer = await apiSend('GET', '/v1/accounts?limit=1&sort=-mrr');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const { accounts } = answer.body;
  assert.ok(accounts.length, 'the stack has no account to open');
  return ['/', '/accounts', `/accounts/${encodeURIComponent(accounts[0].account_id)}`, '/feedback', '/alerts', '/surveys', '/surveys/new',
    ...SETTINGS_TABS.map((tab) => `/settings/${tab}`)];
}

/**
 * The checks every page passes; returns the problems as sentences (empty when it passes).
 * @param {import('playwright-core').Page} page
 * @param {string} locale
 */
async function audit(page, locale) {
  /** @type {string[]} */
  const problems = [];
  const violations = await axe(page);
  for (const v of violations) console.log(`  axe ${v.impact} ${v.id}: ${v.nodes.slice(0, 5).join(' | ')}${v.nodes.length > 5 ? ` (+${v.nodes.length - 5})` : ''}`);
  for (const v of violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')) problems.push(`axe ${v.impact} ${v.id} on ${v.nodes.slice(0, 3).join(' | ')}`);
  const shape = await page.evaluate(() => ({
    h1: document.querySelectorAll('h1').length,
    lang: document.documentElement.lang,
    skip: Array.from(document.querySelectorAll('a[href="#main"]')).filter((a) => a.textContent?.trim()).length,
    main: document.querySelectorAll('main#main').length,
  }));
  if (shape.h1 !== 1) problems.push(`${shape.h1} h1 elements (want exactly one)`);
  if (shape.lang !== locale) problems.push(`<html lang="${shape.lang}"> (want "${locale}")`);
  if (!shape.skip) problems.push('no skip link (a[href="#main"] with a text)');
  if (shape.main !== 1) problems.push(`${shape.main} main#main elements (want one)`);
  for (const f of await smallTargets(page)) problems.push(`target smaller than 24×24 px and too close to another: ${f}`);
  return problems;
}

/**
 * WCAG 2.2 2.5.8 Target Size (Minimum), as sdk-js's targetSizes() measures it (at least 24×24 px,
 * or a 24 px circle on a smaller one that meets no other control), with the criterion's inline
 * exception: a link inside a line of text (computed display `inline`) is sized by that text's
 * line height and is not counted. Returns the failing controls as "name width×height".
 * @param {import('playwright-core').Page} page
 */
function smallTargets(page) {
  return page.evaluate(() => {
    const controls = Array.from(document.querySelectorAll('button, a[href], input:not([type=hidden]), select, textarea, summary, [role=button], [role=tab], [role=radio], [tabindex]:not([tabindex="-1"])'))
      .filter((e) => e.getClientRects().length > 0 && !e.closest('.sr-only, [hidden]') && !e.matches('main#main') && !(e.matches('a') && getComputedStyle(e).display === 'inline'));
    const boxes = controls.map((e) => ({ e, r: e.getBoundingClientRect() }));
    const small = (/** @type {DOMRect} */ r) => r.width < 24 - 1e-6 || r.height < 24 - 1e-6;
    const centre = (/** @type {DOMRect} */ r) => [r.x + r.width / 2, r.y + r.height / 2];
    const distance = (/** @type {number[]} */ [px, py], /** @type {DOMRect} */ b) => Math.hypot(Math.max(b.x - px, 0, px - (b.x + b.width)), Math.max(b.y - py, 0, py - (b.y + b.height)));
    return boxes.filter((t) => small(t.r) && boxes.some((o) => o !== t && (distance(centre(t.r), o.r) < 12 || (small(o.r) && Math.hypot(centre(t.r)[0] - centre(o.r)[0], centre(t.r)[1] - centre(o.r)[1]) < 24))))
      .map((t) => `${t.e.tagName.toLowerCase()}${t.e.getAttribute('type') ? `[type=${t.e.getAttribute('type')}]` : ''} "${(t.e.getAttribute('aria-label') || t.e.textContent || '').trim().slice(0, 30)}" ${t.r.width.toFixed(1)}×${t.r.height.toFixed(1)}`);
  });
}

for (const locale of LOCALES) {
  describe(`accessibility in ${locale}`, () => {
    test(`every signed-in page passes axe and the page checks (${locale})`, { timeout: 120_000 }, async () => {
      const { page, context, problems } = await signedIn(browser, { role: 'owner', locale });
      /** @type {string[]} */
      const failures = [];
      for (const path of await consolePages()) {
        await open(page, path);
        console.log(`${locale} ${path}`);
        for (const p of await audit(page, locale)) failures.push(`${path}: ${p}`);
      }
      await context.close();
      assert.deepEqual(failures, [], 'accessibility problems');
      problems.check();
    });

    test(`the viewer's pages (buttons it may not use) pass axe too (${locale})`, { timeout: 60_000 }, async () => {
      const { page, context, problems } = await signedIn(browser, { role: 'viewer', locale });
      /** @type {string[]} */
      const failures = [];
      for (const path of ['/alerts', '/surveys', '/settings/members']) {
        await open(page, path);
        const violations = (await axe(page)).filter((x) => x.impact === 'serious' || x.impact === 'critical');
        for (const v of violations) failures.push(`${path}: axe ${v.impact} ${v.id} on ${v.nodes.slice(0, 3).join(' | ')}`);
      }
      await context.close();
      assert.deepEqual(failures, [], 'accessibility problems for the viewer');
      problems.check();
    });

    test(`sign-in and password reset pass axe and the page checks (${locale})`, { timeout: 60_000 }, async () => {
      const context = await browser.newContext({ locale, viewport: { width: 1360, height: 900 }, baseURL: stack().url });
      await context.addInitScript((l) => { try { localStorage.setItem('cxloop.locale', l); } catch { /* about:blank has no storage */ } }, locale);
      const page = await context.newPage();
      const problems = watch(page);
      // Signed out, the console's first question (GET /v1/session) is answered 401.
      problems.allow(/401/);
      /** @type {string[]} */
      const failures = [];
      for (const path of ['/sign-in', '/reset#a-token-from-a-reset-link', '/reset']) {
        await page.goto('about:blank');
        await open(page, path);
        console.log(`${locale} ${path}`);
        for (const p of await audit(page, locale)) failures.push(`${path}: ${p}`);
      }
      await context.close();
      assert.deepEqual(failures, [], 'accessibility problems');
      problems.check();
    });
  });
}
