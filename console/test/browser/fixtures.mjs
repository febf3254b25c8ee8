// What every console browser test uses: the running demo stack (see run.mjs), a signed-in page per
// role and locale, a watch that fails on console errors, uncaught exceptions and CSP violations,
// and the private API with the project's secret key to check the numbers a page shows.
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { launch } from './chromium.mjs';

/** @typedef {import('playwright-core').Page} Page */
/** @typedef {import('playwright-core').Browser} Browser */

/** The stack run.mjs started: { url, console_url, project_id, write_key, secret_key, people: { owner|analyst|viewer: { email, password } } } */
let cached = /** @type {any} */ (null);
export function stack() {
  const file = process.env.CONSOLE_STACK;
  if (!file) throw new Error('run the browser tests with `npm run test:browser` (it starts the demo stack), or set CONSOLE_STACK=<stack.json>');
  // Read once per test process: the file never changes under a running test.
  return (cached ??= JSON.parse(readFileSync(file, 'utf8')));
}

export { launch };

/**
 * A new signed-in page (own browser context: own cookies) for a role, in a locale.
 * @param {Browser} browser
 * @param {{ role?: 'owner'|'analyst'|'viewer', locale?: 'en'|'zh-CN'|'zh-TW', viewport?: { width: number, height: number } }} [o]
 */
export async function signedIn(browser, { role = 'owner', locale = 'en', viewport = { width: 1360, height: 900 } } = {}) {
  const s = stack();
  const context = await browser.newContext({ locale, viewport, baseURL: s.url });
  await context.addInitScript((l) => { try { localStorage.setItem('cxloop.locale', l); } catch { /* about:blank has no storage */ } }, locale);
  const person = s.people[role];
  const answer = await context.request.post('/v1/session', { data: { email: person.email, password: person.password } });
  assert.equal(answer.status(), 200, `sign-in as ${role} failed: ${await answer.text()}`);
  const page = await context.newPage();
  const problems = watch(page);
  return { page, context, problems };
}

/**
 * Collects what must not happen on a console page: console errors, uncaught exceptions, CSP
 * violations (reported by the browser to the page). Call `problems.check()` at the end of a test.
 * @param {Page} page
 */
export function watch(page) {
  /** @type {string[]} */
  const seen = [];
  page.on('pageerror', (e) => seen.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    // The console's first question (/v1/session) is a 401 before sign-in; expected answers to
    // requests a test provokes can be allowed with problems.allow(/pattern/).
    if (m.type() === 'error') seen.push(`console.error: ${m.text()}`);
  });
  page.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`)));
  /** @type {RegExp[]} */
  const allowed = [];
  return {
    seen,
    allow(/** @type {RegExp} */ pattern) { allowed.push(pattern); },
    check() {
      const left = seen.filter((s) => !allowed.some((p) => p.test(s)));
      assert.deepEqual(left, [], 'console errors, exceptions or CSP violations on the page');
    },
  };
}

/** Goes to a console path and waits until the page says it shows its data. */
export async function open(/** @type {Page} */ page, /** @type {string} */ path) {
  await page.goto(`/console${path}`);
  await page.waitForSelector('body[data-ready]', { timeout: 20000 });
}

/** The private API with the demo project's secret key (an admin): the truth pages are checked against. */
export async function apiGet(/** @type {string} */ path) {
  const s = stack();
  const response = await fetch(s.url + path, { headers: { Authorization: `Bearer ${s.secret_key}` } });
  const text = await response.text();
  assert.equal(response.status, 200, `GET ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

export async function apiSend(/** @type {string} */ method, /** @type {string} */ path, /** @type {any} */ body) {
  const s = stack();
  const response = await fetch(s.url + path, { method, headers: { Authorization: `Bearer ${s.secret_key}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}
