// Test pages for the widget's browser tests: an app page that pastes the snippet, and a fresh
// browser context that records page errors, console errors and CSP violations.
import assert from 'node:assert/strict';
import { snippetFor } from './server.mjs';

/**
 * An app page served from `origin`: the snippet, initialised with `options`, in <head>; `html`
 * then `script` in <body>.
 * @param {string} origin
 * @param {{ html?: string, script?: string, head?: string, options?: string, nonce?: string, lang?: string }} [o]
 */
export function appPageFor(origin, { html = '', script = '', head = '', options = '{flushInterval:200}', nonce = '', lang = 'en' } = {}) {
  const n = nonce ? ` nonce="${nonce}"` : '';
  const loader = snippetFor(origin).replace('t.init(s)', `t.init(s,${options})`);
  assert.ok(loader.includes(`t.init(s,${options})`), 'the snippet no longer ends with t.init(s)');
  return `<!doctype html>
<html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Acme Analytics</title>${head}
<script${n}>${loader}</script>
</head><body>${html}<script${n}>${script}</script></body></html>`;
}

/**
 * A fresh context (own localStorage) on `url`, collecting page errors, console errors and CSP violations.
 * @param {import('playwright-core').Browser} browser
 * @param {string} url
 * @param {import('playwright-core').BrowserContextOptions} [options]
 */
export async function openPage(browser, url, options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const w = /** @type {any} */ (window);
      (w.__violations ||= []).push(e.violatedDirective + ' ' + e.blockedURI);
    });
  });
  await page.goto(url);
  return { context, page, errors };
}

/** What has focus, inside the widget's shadow root or out. */
export const focused = (/** @type {import('playwright-core').Page} */ page) => page.evaluate(() => {
  const active = document.activeElement;
  const inner = active && active.shadowRoot ? active.shadowRoot.activeElement : null;
  return inner ? 'widget:' + (inner.getAttribute('role') || inner.tagName.toLowerCase()) + ':' + (inner.className || '') : 'page:' + (active && (active.id || active.tagName.toLowerCase()));
});
