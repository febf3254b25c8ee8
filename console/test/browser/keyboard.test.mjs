// Keyboard only (page.keyboard, never the mouse): the first Tab reaches the skip link and Enter on
// it moves focus to the main content; Tab from the top reaches the navigation and every visible
// control of each page, and whatever has focus shows it (an outline or a box-shadow); Enter on a
// navigation link opens that page; dialogs keep focus inside while open and give it back to their
// opener when closed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, signedIn, open, apiSend } from './fixtures.mjs';

/** @type {import('playwright-core').Browser} */
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const TAB_LIMIT = 600;

/** @typedef {import('playwright-core').Page} Page */

/**
 * Marks every control a keyboard user must be able to reach (visible, enabled, not tabindex=-1,
 * not inside an iframe or a closed dialog) and records, on each focus, which one it was and
 * whether the focus is visible. Returns how many controls were marked.
 * @param {Page} page
 */
function watchFocus(page) {
  return page.evaluate(() => {
    const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex="-1"])';
    const controls = Array.from(document.querySelectorAll(selector)).filter((e) => {
      const el = /** @type {HTMLElement} */ (e);
      if (el.matches(':disabled') || el.closest('dialog:not([open]), [inert], [hidden]')) return false;
      if (el.matches('main#main')) return false;
      // Composite widgets (tabs, radio groups, toolbars, grids, listboxes, menus) keep one member
      // in the Tab order and move between the others with the arrow keys (a roving tabindex).
      if (el.getAttribute('tabindex') === '-1' && el.closest('[role=tablist], [role=radiogroup], [role=toolbar], [role=grid], [role=listbox], [role=menu], [role=tree]')) return false;
      // The skip link is off screen until it has focus; it is checked on its own.
      if (el.matches('a.skip')) return true;
      return el.checkVisibility ? el.checkVisibility({ checkVisibilityCSS: true }) : el.getClientRects().length > 0;
    });
    controls.forEach((e, i) => e.setAttribute('data-kb', String(i)));
    const w = /** @type {any} */ (window);
    w.__kb = { reached: new Set(), invisible: [], order: [] };
    const describe = (/** @type {Element} */ e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${e.className && typeof e.className === 'string' ? `.${e.className.trim().split(/\s+/).join('.')}` : ''} "${(e.getAttribute('aria-label') || e.textContent || '').trim().slice(0, 40)}"`;
    document.addEventListener('focusin', (event) => {
      const el = /** @type {HTMLElement} */ (event.target);
      w.__kb.order.push(el.getAttribute('data-kb'));
      if (el.hasAttribute('data-kb')) w.__kb.reached.add(el.getAttribute('data-kb'));
      const style = getComputedStyle(el);
      const outlined = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
      const shadowed = style.boxShadow && style.boxShadow !== 'none';
      if (!outlined && !shadowed && !el.matches('main#main, iframe')) w.__kb.invisible.push(describe(el));
    }, true);
    return controls.length;
  });
}

/** Presses Tab until focus leaves the document or comes back to where it started. */
async function tabThrough(/** @type {Page} */ page) {
  for (let i = 0; i < TAB_LIMIT; i++) {
    await page.keyboard.press('Tab');
    const where = await page.evaluate(() => {
      const a = document.activeElement;
      return !a || a === document.body ? 'out' : a.getAttribute('data-kb') === '0' && /** @type {any} */ (window).__kb.order.length > 1 ? 'wrapped' : 'in';
    });
    if (where !== 'in') return i + 1;
  }
  return TAB_LIMIT;
}

/** The controls that were never reached by Tab, and the focused elements without a visible focus. */
function focusReport(/** @type {Page} */ page) {
  return page.evaluate(() => {
    const w = /** @type {any} */ (window);
    const missed = Array.from(document.querySelectorAll('[data-kb]')).filter((e) => !w.__kb.reached.has(e.getAttribute('data-kb')))
      .map((e) => `${e.tagName.toLowerCase()} "${(e.getAttribute('aria-label') || e.textContent || '').trim().slice(0, 40)}"`);
    return { missed, invisible: Array.from(new Set(w.__kb.invisible)) };
  });
}

async function pages() {
  const answer = await apiSend('GET', '/v1/accounts?limit=1');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const id = answer.body.accounts[0]?.account_id;
  assert.ok(id, 'the stack has no account');
  return ['/', '/accounts', `/accounts/${encodeURIComponent(id)}`, '/feedback', '/alerts', '/surveys', '/surveys/new', '/settings/health', '/settings/webhooks', '/settings/keys', '/settings/members'];
}

test('the first Tab reaches the skip link; Enter on it moves focus to the main content', async () => {
  const { page, context, problems } = await signedIn(browser);
  await open(page, '/');
  await page.keyboard.press('Tab');
  const first = await page.evaluate(() => {
    const a = /** @type {HTMLElement} */ (document.activeElement);
    const r = a.getBoundingClientRect();
    const style = getComputedStyle(a);
    return { skip: a.matches('a.skip[href="#main"]'), onScreen: r.left >= 0 && r.top >= 0 && r.width > 0, outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0 };
  });
  assert.deepEqual(first, { skip: true, onScreen: true, outline: true }, 'the first Tab focuses a visible, outlined skip link');
  await page.keyboard.press('Enter');
  await page.waitForSelector('body[data-ready]');
  const after = await page.evaluate(() => ({ main: document.activeElement?.id === 'main', path: location.pathname }));
  assert.deepEqual(after, { main: true, path: '/console/' }, 'Enter on the skip link focuses main and stays on the page');
  // The next Tab goes into the content, not back to the header.
  await page.keyboard.press('Tab');
  const next = await page.evaluate(() => { const a = document.activeElement; return { header: !!a?.closest('header, nav') }; });
  assert.deepEqual(next, { header: false }, 'after the skip link, Tab moves on into the main content, not back to the header or the navigation');
  await context.close();
  problems.check();
});

test('Tab from the top reaches the navigation and every control of each page, always with a visible focus', { timeout: 180_000 }, async () => {
  const { page, context, problems } = await signedIn(browser);
  /** @type {string[]} */
  const failures = [];
  for (const path of await pages()) {
    await open(page, path);
    const count = await watchFocus(page);
    await page.evaluate(() => { /** @type {HTMLElement} */ (document.activeElement)?.blur(); window.scrollTo(0, 0); });
    const presses = await tabThrough(page);
    const { missed, invisible } = await focusReport(page);
    const nav = await page.evaluate(() => Array.from(document.querySelectorAll('nav a[href]')).every((a) => /** @type {any} */ (window).__kb.reached.has(a.getAttribute('data-kb'))));
    console.log(`${path}: ${count} controls, ${presses} Tab presses, ${missed.length} missed, ${invisible.length} without a visible focus`);
    if (!nav) failures.push(`${path}: Tab does not reach every navigation link`);
    if (presses >= TAB_LIMIT) failures.push(`${path}: focus never left the page or wrapped after ${TAB_LIMIT} Tabs (a trap?)`);
    for (const m of missed) failures.push(`${path}: Tab never reaches ${m}`);
    for (const v of invisible) failures.push(`${path}: no visible focus on ${v}`);
  }
  await context.close();
  assert.deepEqual(failures, [], 'keyboard problems');
  problems.check();
});

test('Enter on a navigation link opens that page and moves focus to its content', async () => {
  const { page, context, problems } = await signedIn(browser);
  await open(page, '/');
  for (const [name, path] of [['accounts', '/console/accounts'], ['alerts', '/console/alerts'], ['portfolio', '/console/']]) {
    // From the top of a fresh page Tab goes forward to the link to `path`; once focus is in a
    // page's content (after the navigation), Shift+Tab goes back to it.
    const key = (await page.evaluate(() => !!document.activeElement?.closest('main'))) ? 'Shift+Tab' : 'Tab';
    let found = false;
    for (let i = 0; i < 40 && !found; i++) {
      await page.keyboard.press(key);
      found = await page.evaluate((p) => document.activeElement?.matches(`nav a[href="${p}"]`) ?? false, path);
    }
    assert.ok(found, `Tab reaches the navigation link to ${name}`);
    await page.keyboard.press('Enter');
    await page.waitForFunction((p) => location.pathname === p && document.body.hasAttribute('data-ready'), path);
    const state = await page.evaluate(() => ({ focusInMain: !!document.activeElement?.closest('main'), current: document.querySelector('nav a[aria-current="page"]')?.getAttribute('href') }));
    assert.deepEqual(state, { focusInMain: true, current: path }, `after Enter on ${name}, focus is in the new page and the navigation marks it`);
  }
  await context.close();
  problems.check();
});

/**
 * Opens a dialog by keyboard (the `open` callback), then checks: a modal dialog is open and has
 * focus inside; 25 Tabs and Shift+Tabs never leave it; Escape closes it and focus is back on the
 * element that had it before.
 * @param {Page} page
 * @param {() => Promise<void>} openDialog
 */
async function checkDialog(page, openDialog) {
  const opener = await page.evaluate(() => { const a = document.activeElement; a?.setAttribute('data-opener', ''); return a?.tagName; });
  await openDialog();
  await page.waitForSelector('dialog[open]', { timeout: 3000 });
  const inside = () => page.evaluate(() => !!document.activeElement?.closest('dialog[open]'));
  assert.ok(await page.evaluate(() => /** @type {HTMLDialogElement} */ (document.querySelector('dialog[open]')).matches(':modal')), 'the dialog is modal (showModal)');
  assert.ok(await inside(), 'focus moves into the dialog');
  for (const key of ['Tab', 'Shift+Tab']) {
    for (let i = 0; i < 25; i++) {
      await page.keyboard.press(key);
      // Chromium lets focus leave a modal dialog only to the browser's own UI (document.activeElement is then body).
      const where = await page.evaluate(() => (document.activeElement === document.body ? 'browser' : document.activeElement?.closest('dialog[open]') ? 'dialog' : 'page'));
      assert.notEqual(where, 'page', `${key} ${i + 1} left the dialog for the page behind it`);
    }
  }
  await page.keyboard.press('Escape');
  await page.waitForSelector('dialog[open]', { state: 'detached', timeout: 2000 }).catch(() => {});
  assert.equal(await page.evaluate(() => document.querySelectorAll('dialog[open]').length), 0, 'Escape closes the dialog');
  assert.ok(await page.evaluate(() => document.activeElement?.hasAttribute('data-opener') ?? false), `focus returns to the opener (${opener})`);
}

test('the alerts shortcuts dialog (?) keeps focus inside and returns it to where it was', async () => {
  const { page, context, problems } = await signedIn(browser);
  await open(page, '/alerts');
  // Focus something on the page first: the dialog must give focus back to it.
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  await checkDialog(page, () => page.keyboard.press('?'));
  await context.close();
  problems.check();
});

test('the alerts "shortcuts" button, and every button marked aria-haspopup=dialog, open a dialog that traps and returns focus', { timeout: 120_000 }, async () => {
  const { page, context, problems } = await signedIn(browser);
  await open(page, '/alerts');
  await page.focus('main button[aria-keyshortcuts="?"]');
  await checkDialog(page, () => page.keyboard.press('Enter'));
  let opened = 1;
  for (const path of await pages()) {
    await open(page, path);
    const count = await page.evaluate(() => document.querySelectorAll('main [aria-haspopup="dialog"]:not([aria-disabled="true"]):not(:disabled)').length);
    for (let i = 0; i < count; i++) {
      await page.evaluate((n) => /** @type {HTMLElement} */ (document.querySelectorAll('main [aria-haspopup="dialog"]:not([aria-disabled="true"]):not(:disabled)')[n]).focus(), i);
      await checkDialog(page, () => page.keyboard.press('Enter'));
      opened++;
    }
  }
  console.log(`${opened} dialogs opened by keyboard`);
  await context.close();
  problems.check();
});
