// Browser tests: the minified SDK in a real headless Chromium, loaded by the real snippet, against
// the recording test server (test/browser/server.mjs).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { sleep, waitFor } from './chromium.mjs';
import { browser, server, useServerAndBrowser } from './fixture.mjs';
import { WRITE_KEY, snippetFor } from './server.mjs';

useServerAndBrowser();

/** A page with the pasted snippet, then `body` (inline script). */
const snippetPage = (/** @type {string} */ body = '', /** @type {string} */ head = '') => `<!doctype html>
<html><head><meta charset="utf-8"><title>Test app</title>${head}
<script>${snippetFor(server.origin)}</script>
</head><body><h1>app</h1><script>${body}</script></body></html>`;

/** Opens a page in a fresh context (its own localStorage), collecting page errors. */
async function open(/** @type {string} */ path, /** @type {import('playwright-core').BrowserContextOptions} */ options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  await page.goto(server.origin + path);
  return { context, page, errors };
}

const events = () => server.events();
const byType = (/** @type {string} */ type) => events().filter((e) => e.type === type);
const assertOnce = () => {
  const ids = events().map((e) => e.messageId);
  assert.equal(new Set(ids).size, ids.length, 'an event was delivered twice');
};

describe('snippet', () => {
  test('loads the SDK asynchronously and replays early calls in order, with the right account', async () => {
    server.setSdkDelay(400);
    server.page('/app', snippetPage(`
      cxloop.identify('user-1', { email: 'ada@example.com' });
      cxloop.group('acct-1', { name: 'Acme', plan: 'pro', seats: 10 });
      cxloop.track('Report Exported', { format: 'csv' });
      cxloop.feature('export-csv');
      window.__callTime = Date.now();
      window.__sdkBefore = !cxloop.version;
    `));
    const { context, page, errors } = await open('/app');
    await waitFor(() => events().length >= 5, { message: '5 events' });
    assert.equal(await page.evaluate(() => /** @type {any} */ (window).__sdkBefore), true, 'the SDK loaded before the calls');
    const sequence = events().map((e) => e.type + ':' + (e.event || e.properties?.path || e.groupId || e.userId));
    assert.deepEqual(sequence, ['identify:user-1', 'group:acct-1', 'track:Report Exported', 'track:Feature Used', 'page:/app']);
    const [identify, group, track, feature, pageView] = events();
    const callTime = await page.evaluate(() => /** @type {any} */ (window).__callTime);
    assert.ok(Date.parse(track.timestamp) <= callTime, 'timestamps are those of the calls, not of the replay');
    for (const event of [group, track, feature, pageView]) {
      assert.equal(event.userId, 'user-1');
      assert.equal(event.context.groupId, 'acct-1');
      assert.equal(event.anonymousId, identify.anonymousId);
    }
    assert.equal(feature.properties.feature, 'export-csv');
    assert.equal(pageView.context.page.title, 'Test app');
    assert.equal(pageView.context.library.name, 'cxloop-js');
    const ingest = server.requests.filter((r) => r.path === '/v1/batch');
    assert.ok(ingest.every((r) => r.method === 'POST' && r.contentType === 'text/plain;charset=UTF-8'));
    assert.deepEqual(server.requests.filter((r) => r.method === 'OPTIONS'), [], 'no CORS preflight');
    assert.equal(await page.evaluate(() => document.cookie), '');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('the snippet pasted twice loads the SDK once', async () => {
    server.page('/twice', snippetPage(`cxloop.track('once')`, `<script>${snippetFor(server.origin)}</script>`));
    const { context, page } = await open('/twice');
    await waitFor(() => events().some((e) => e.event === 'once'));
    await sleep(500);
    assert.equal(events().filter((e) => e.event === 'once').length, 1);
    assert.equal(await page.evaluate(() => document.querySelectorAll('script[src*="cxloop.min.js"]').length), 1);
    await context.close();
  });
});

describe('single-page apps', () => {
  test('pushState, replaceState, popstate and hash routes make one page view each', async () => {
    server.page('/spa', snippetPage());
    const { context, page, errors } = await open('/spa');
    await waitFor(() => byType('page').length === 1);
    const step = async (/** @type {string} */ script) => {
      await page.evaluate(script);
      await sleep(120);
    };
    await step(`history.pushState({}, '', '/spa/projects')`);
    await step(`history.pushState({}, '', '/spa/projects')`); // same URL
    await step(`history.replaceState({}, '', '/spa/projects?sort=name')`);
    await step(`location.hash = 'section-2'`); // in-page anchor
    await step(`history.pushState({}, '', '/spa/login'); history.replaceState({}, '', '/spa/home'); document.title = 'Home'`);
    await step(`location.hash = '#/settings'`);
    await step(`history.back()`);
    await page.evaluate(() => /** @type {any} */ (window).cxloop.flush());
    await waitFor(() => byType('page').length >= 6, { message: '6 page views' });
    await sleep(300);
    const views = byType('page').map((e) => e.properties.path + e.properties.search + (e.properties.url.includes('#/') ? '#/…' : ''));
    assert.deepEqual(views, ['/spa', '/spa/projects', '/spa/projects?sort=name', '/spa/home', '/spa/home#/…', '/spa/home']);
    const home = byType('page')[3];
    assert.equal(home.properties.title, 'Home');
    assert.equal(home.properties.referrer, server.origin + '/spa/projects?sort=name', 'the referrer is the previous page view');
    assertOnce();
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe('delivery', () => {
  test('offline, then online: everything is delivered once', async () => {
    server.page('/offline', snippetPage());
    const { context, page } = await open('/offline');
    await waitFor(() => byType('page').length === 1);
    await context.setOffline(true);
    await page.evaluate(() => { for (let i = 0; i < 45; i++) /** @type {any} */ (window).cxloop.track('Offline ' + i, { i }); });
    await sleep(3000);
    assert.equal(events().length, 1);
    const stored = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.includes('.q.')).length);
    assert.equal(stored, 1, 'the outbox is in localStorage');
    await context.setOffline(false);
    await waitFor(() => events().length === 46, { message: '45 offline events' });
    await sleep(2500);
    assert.equal(events().length, 46);
    assertOnce();
    assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.includes('.q.')).length), 0);
    await context.close();
  });

  test('a beacon the browser refuses leaves the events for the next page, which delivers them once', async () => {
    server.page('/refused', snippetPage().replace('t.init(s)', 't.init(s,{flushInterval:600000})'));
    const context = await browser.newContext();
    const page = await context.newPage();
    // Before the SDK loads, so that it captures this sendBeacon: one that refuses, as a browser
    // does when its in-flight budget is spent.
    await page.addInitScript(() => { navigator.sendBeacon = () => false; });
    await page.goto(server.origin + '/refused');
    await page.waitForFunction(() => /** @type {any} */ (window).cxloop.version);
    await page.evaluate(() => { for (let i = 0; i < 10; i++) /** @type {any} */ (window).cxloop.track('Before reload ' + i); });
    await page.reload();
    await waitFor(() => events().filter((e) => e.event?.startsWith('Before reload')).length === 10, { message: '10 events from before the reload' });
    await sleep(2500);
    assert.equal(events().filter((e) => e.event?.startsWith('Before reload')).length, 10);
    assertOnce();
    await context.close();
  });

  test('503 with Retry-After is honoured, 401 is not retried', async () => {
    server.page('/retry', snippetPage(`cxloop.init; `));
    const { context, page } = await open('/retry');
    await waitFor(() => byType('page').length === 1);
    server.respond({ status: 503, retryAfter: '2' }, { status: 429, retryAfter: '1' });
    await page.evaluate(() => /** @type {any} */ (window).cxloop.track('Retried'));
    await waitFor(() => events().some((e) => e.event === 'Retried'), { message: 'the retried event' });
    const attempts = server.requests.filter((r) => r.body?.batch?.some((/** @type {any} */ e) => e.event === 'Retried'));
    assert.deepEqual(attempts.map((r) => r.status), [503, 429, 200]);
    assert.ok(attempts[1].at - attempts[0].at >= 1900, 'retried before Retry-After');
    assert.ok(attempts[2].at - attempts[1].at >= 900, 'retried before Retry-After');
    assert.equal(new Set(attempts.map((r) => r.body.batch[0].messageId)).size, 1, 'messageId kept across retries');
    await context.close();

    server.page('/badkey', snippetPage().replace(JSON.stringify(WRITE_KEY), '"wk_wrong"'));
    const other = await open('/badkey');
    const warnings = /** @type {string[]} */ ([]);
    other.page.on('console', (msg) => { if (msg.type() === 'warning') warnings.push(msg.text()); });
    await other.page.evaluate(() => /** @type {any} */ (window).cxloop.track('Bad key'));
    await waitFor(() => server.requests.filter((r) => r.status === 401).length >= 1);
    await sleep(4000);
    assert.equal(server.requests.filter((r) => r.status === 401).length, 1 + 0, 'a 401 was retried');
    assert.ok(warnings.some((w) => w.includes('401') && w.includes('invalid_write_key')), warnings.join('\n'));
    await other.context.close();
  });

  test('closing the tab with a full queue delivers it with sendBeacon', async () => {
    server.page('/close', snippetPage(`cxloop.init('${WRITE_KEY}', { flushAt: 1000, flushInterval: 600000 });`).replace('t.init(s)', 't'));
    const { context, page } = await open('/close');
    await page.waitForFunction(() => /** @type {any} */ (window).cxloop.version);
    await page.evaluate(() => { for (let i = 0; i < 60; i++) /** @type {any} */ (window).cxloop.track('Before close ' + i, { i }); });
    await sleep(200);
    assert.equal(events().length, 0);
    await page.close();
    await waitFor(() => events().length === 61, { message: '61 events after close' });
    const beacons = server.requests.filter((r) => r.status === 200 && r.fetchMode === 'no-cors');
    assert.ok(beacons.length >= 1, 'sent with sendBeacon');
    assertOnce();
    await context.close();
  });

  test('navigating away hands the queue to sendBeacon too', async () => {
    server.page('/leave', snippetPage(`cxloop.track('Leaving soon')`).replace('t.init(s)', 't.init(s,{flushInterval:600000})'));
    server.page('/elsewhere', '<!doctype html><title>elsewhere</title>');
    const { context, page } = await open('/leave');
    await page.waitForFunction(() => /** @type {any} */ (window).cxloop.version);
    await sleep(100);
    await page.goto(server.origin + '/elsewhere');
    await waitFor(() => events().some((e) => e.event === 'Leaving soon'), { message: 'the event sent on leaving' });
    await context.close();
  });
});

describe('several tabs', () => {
  test('two tabs retrying at once deliver each event exactly once', async () => {
    server.page('/tab', snippetPage(`cxloop.init; `));
    const context = await browser.newContext();
    const a = await context.newPage();
    const b = await context.newPage();
    await a.goto(server.origin + '/tab');
    await b.goto(server.origin + '/tab');
    await waitFor(() => byType('page').length === 2);
    server.respond(...Array.from({ length: 4 }, () => ({ status: 503, retryAfter: '1' })));
    for (const [name, page] of /** @type {const} */ ([['a', a], ['b', b]])) {
      await page.evaluate((n) => { for (let i = 0; i < 30; i++) /** @type {any} */ (window).cxloop.track(`tab ${n} ${i}`); }, name);
    }
    await waitFor(() => events().length === 62, { timeout: 20000, message: '60 tab events' });
    await sleep(2500);
    assert.equal(events().length, 62);
    assertOnce();
    await context.close();
  });

  test('a tab closed while offline: another tab delivers its events once', async () => {
    server.page('/tab2', snippetPage());
    const context = await browser.newContext();
    const a = await context.newPage();
    const b = await context.newPage();
    await a.goto(server.origin + '/tab2');
    await b.goto(server.origin + '/tab2');
    await waitFor(() => byType('page').length === 2);
    await context.setOffline(true);
    await a.evaluate(() => { for (let i = 0; i < 5; i++) /** @type {any} */ (window).cxloop.track('orphan ' + i); });
    await sleep(100);
    await a.close();
    await context.setOffline(false);
    await waitFor(() => events().filter((e) => e.event?.startsWith('orphan')).length === 5, { timeout: 15000, message: 'adopted events' });
    await sleep(2500);
    assertOnce();
    const left = await b.evaluate(() => Object.entries(localStorage).filter(([k]) => k.startsWith('cxloop.')));
    const requests = server.requests.map((r) => [r.status, r.fetchMode, r.body?.batch?.map((/** @type {any} */ e) => e.event || e.type)]);
    assert.deepEqual(left.filter(([k]) => k.includes('.q.')), [], JSON.stringify({ left, requests }));
    await context.close();
  });
});

describe('hostile pages', () => {
  test('a strict CSP (script-src \'self\'; connect-src \'self\') with the script-tag install', async () => {
    server.script('/csp-app.js', `
      window.addEventListener('securitypolicyviolation', (e) => { (window.__violations ||= []).push(e.violatedDirective + ' ' + e.blockedURI); });
      cxloop.ready(() => { cxloop.identify('csp-user'); cxloop.track('CSP ok'); });`);
    server.page('/csp', `<!doctype html><html><head><title>CSP</title>
      <script src="/sdk/v1/cxloop.min.js" data-write-key="${WRITE_KEY}"></script>
      <script src="/csp-app.js" defer></script></head><body>strict</body></html>`,
    { 'Content-Security-Policy': "default-src 'none'; script-src 'self'; connect-src 'self'" });
    const { context, page, errors } = await open('/csp');
    await waitFor(() => events().some((e) => e.event === 'CSP ok'), { message: 'the event under CSP' });
    assert.equal(await page.evaluate(() => /** @type {any} */ (window).__violations), undefined);
    assert.deepEqual(errors, []);
    assert.equal(events().find((e) => e.event === 'CSP ok').userId, 'csp-user');
    await context.close();
  });

  test('a nonce-based CSP: the pasted snippet passes its nonce to the SDK tag', async () => {
    const nonce = 'r4nd0mN0nce';
    server.page('/nonce', snippetPage(`cxloop.track('Nonce ok')`).replace(/<script>/g, `<script nonce="${nonce}">`),
      { 'Content-Security-Policy': `script-src 'nonce-${nonce}'; connect-src 'self'` });
    const { context, errors } = await open('/nonce');
    await waitFor(() => events().some((e) => e.event === 'Nonce ok'), { message: 'the event under a nonce CSP' });
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a page that throws and replaces fetch, JSON and Storage after load does not break the SDK', async () => {
    server.page('/hostile', snippetPage(`
      cxloop.ready(() => {
        window.fetch = () => { throw new Error('host replaced fetch'); };
        JSON.stringify = () => '"broken"';
        JSON.parse = () => { throw new Error('host replaced JSON.parse'); };
        Storage.prototype.setItem = () => { throw new Error('host replaced setItem'); };
        navigator.sendBeacon = () => { throw new Error('host replaced sendBeacon'); };
        window.onerror = () => false;
        setTimeout(() => { throw new Error('host bug'); });
        const circular = {}; circular.self = circular;
        cxloop.track('Circular', circular);
        cxloop.track('After hostility', { nested: { ok: true }, list: [1, 2] });
        history.pushState({}, '', '/hostile/next');
      });`));
    const { context, page, errors } = await open('/hostile');
    await waitFor(() => events().some((e) => e.event === 'After hostility'), { message: 'the event' });
    await waitFor(() => byType('page').length === 2, { message: 'the SPA page view' });
    assert.deepEqual(byType('page').map((e) => e.properties.path), ['/hostile', '/hostile/next']);
    const event = events().find((e) => e.event === 'After hostility');
    assert.deepEqual(event.properties, { nested: { ok: true }, list: [1, 2] });
    assert.equal(events().some((e) => e.event === 'Circular'), false);
    assert.deepEqual(errors.filter((e) => !e.includes('host bug')), []);
    await page.close();
    await context.close();
  });

  test('the minified build contains no eval or Function constructor', () => {
    const code = readFileSync(new URL('../../dist/cxloop.min.js', import.meta.url), 'utf8');
    assert.doesNotMatch(code, /\beval\(|new Function|Function\(/);
  });
});
