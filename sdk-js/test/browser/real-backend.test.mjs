// Browser tests against the real cxloop server: the minified SDK, loaded from the backend by the
// pasted snippet into pages of another origin (the vendor's app), in a real headless Chromium.
// Each test asserts on what landed in the Parquet lake, exactly once (the survey test also on the
// responses API, in a project of its own). The backend is started once for the file
// (test/browser/backend.mjs); the app pages come from test/browser/server.mjs.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { sleep } from './chromium.mjs';
import { snippetFor } from './server.mjs';
import { app, backend, browser, useRealBackend } from './stack.mjs';

/** @typedef {import('./backend.mjs').LakeEvent} LakeEvent */

const dist = new URL('../../dist/', import.meta.url);
/** @type {{ version: string, 'cxloop.min.js': string, 'cxloop-surveys.min.js': string }} */
const integrity = JSON.parse(readFileSync(new URL('integrity.json', dist), 'utf8'));
const TEST_TIMEOUT = 30000;

useRealBackend();

/** The snippet from dist/, as vendors paste it, for the real backend and project. */
const snippet = () => snippetFor(backend.url, backend.writeKey).trim();
/** The snippet's pinned variant: versioned SDK URL with its SRI hash (as `npm run readme` writes it). */
const pinnedSnippet = (hash = integrity['cxloop.min.js']) => {
  const pinned = snippet().replace(/\);$/, `,${JSON.stringify([integrity.version, hash])});`);
  assert.notEqual(pinned, snippet(), 'the snippet no longer ends with its write key argument');
  return pinned;
};
/** A page of the vendor's app: the snippet in <head>, then `body` as an inline script. */
const snippetPage = (/** @type {string} */ body = '', { loader = snippet(), nonce = '' } = {}) => {
  const attr = nonce ? ` nonce="${nonce}"` : '';
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Vendor app</title>
<script${attr}>${loader}</script>
</head><body><h1>app</h1><script${attr}>${body}</script></body></html>`;
};

/**
 * A fresh browser context (own localStorage) on an app page, recording the SDK's ingest requests,
 * page errors, console errors and CSP violations.
 */
async function open(/** @type {string} */ path, { waitForSdk = true } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const session = {
    context,
    page,
    anonymousId: '',
    /** Bodies of the batches the SDK posted with fetch (beacons sent while closing are not seen). */
    sent: /** @type {{ batch: any[] }[]} */ ([]),
    failedRequests: /** @type {string[]} */ ([]),
    errors: /** @type {string[]} */ ([]),
  };
  const ingest = backend.url + '/v1/batch';
  context.on('request', (request) => {
    if (request.url() === ingest && request.method() === 'POST') session.sent.push(JSON.parse(request.postData() || 'null'));
  });
  context.on('requestfailed', (request) => {
    if (request.url() === ingest) session.failedRequests.push(request.failure()?.errorText || 'failed');
  });
  page.on('pageerror', (error) => session.errors.push(String(error)));
  page.on('console', (message) => { if (message.type() === 'error') session.errors.push(message.text()); });
  // Injected by the browser, so no CSP applies to it; it runs before any page script.
  await context.addInitScript(() => {
    addEventListener('securitypolicyviolation', (e) => {
      const w = /** @type {any} */ (window);
      (w.__violations ||= []).push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  await page.goto(app.origin + path);
  if (waitForSdk) {
    await page.waitForFunction(() => /** @type {any} */ (window).cxloop?.version, null, { timeout: 10000 }).catch(() => {
      throw new Error(`the SDK did not load from ${backend.url} on ${path}; page errors: ${JSON.stringify(session.errors)}`);
    });
    session.anonymousId = await page.evaluate(() => /** @type {any} */ (window).cxloop.user().anonymousId);
  }
  return session;
}
/** @typedef {Awaited<ReturnType<typeof open>>} Session */

/** Sends what waits and checks that the tab's outbox (localStorage) is empty. */
async function drain(/** @type {Session} */ session) {
  await session.page.evaluate(() => /** @type {any} */ (window).cxloop.flush());
  await session.page.waitForFunction(() => !Object.keys(localStorage).some((k) => k.includes('.q.')), null, { timeout: 10000 }).catch(async () => {
    const outbox = await session.page.evaluate(() => Object.entries(localStorage).filter(([k]) => k.includes('.q.')));
    throw new Error(`the outbox did not empty within 10 s: ${JSON.stringify(outbox).slice(0, 2000)}; failed requests: ${session.failedRequests}`);
  });
}

/** A short, readable name for a lake row. */
function label(/** @type {LakeEvent} */ e) {
  switch (e.type) {
    case 'track': return `track:${e.event}` + (e.event === 'Feature Used' ? `:${e.properties?.feature}` : '');
    case 'page': return `page:${e.properties?.path}${e.properties?.search || ''}${String(e.properties?.url).includes('#/') ? '#/' + String(e.properties.url).split('#/')[1] : ''}`;
    case 'identify': return `identify:${e.user_id}`;
    case 'group': return `group:${e.group_id}`;
    default: return `${e.type}:${e.message_id}`;
  }
}
const describeRows = (/** @type {LakeEvent[]} */ rows) => rows.length
  ? rows.map((e) => `  ${label(e)}  user=${e.user_id} group=${e.group_id} messageId=${e.message_id} at ${e.timestamp}`).join('\n')
  : '  (nothing)';

/** The lake's rows for one browser (its anonymous id), oldest first, and its failed events. */
async function lakeOf(/** @type {string} */ anonymousId) {
  const lake = await backend.lake();
  const events = lake.events.filter((e) => e.anonymous_id === anonymousId);
  events.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
  return { events, failed: lake.failed.filter((f) => f.raw?.includes(anonymousId)) };
}

/**
 * Waits until the lake holds the `expected` events (labels, any order) for the session's
 * browser, and every message the SDK was seen sending; then, after `settle` ms for stragglers,
 * checks that it holds exactly those, each once. With `onlyFetch`, no beacon may have
 * delivered anything: the lake holds exactly the messages seen in fetch requests.
 */
async function expectLake(/** @type {Session} */ session, /** @type {string[]} */ expected, { timeout = 10000, settle = 300, onlyFetch = true } = {}) {
  const want = [...expected].sort();
  const sentIds = () => new Set(session.sent.flatMap((body) => body.batch.map((e) => e.messageId)));
  const end = Date.now() + timeout;
  let lake = await lakeOf(session.anonymousId);
  for (;;) {
    const ids = new Set(lake.events.map((e) => e.message_id));
    const missing = [...sentIds()].filter((id) => !ids.has(id));
    if (lake.events.length >= want.length && missing.length === 0) break;
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeout} ms waiting for the lake to hold, for anonymousId ${session.anonymousId}:\n  ${want.join('\n  ')}\n`
        + (missing.length ? `and the ${missing.length} messageIds the SDK sent that are not there (${missing.slice(0, 5).join(', ')}…)\n` : '')
        + `the lake held:\n${describeRows(lake.events)}\nfailed events: ${JSON.stringify(lake.failed)}\n`
        + `failed requests: ${JSON.stringify(session.failedRequests)}\nend of the server log:\n${backend.logTail(8)}`);
    }
    await sleep(150);
    lake = await lakeOf(session.anonymousId);
  }
  if (settle) {
    await sleep(settle);
    lake = await lakeOf(session.anonymousId);
  }
  const ids = lake.events.map((e) => e.message_id);
  assert.equal(new Set(ids).size, ids.length, `a messageId is in the lake twice:\n${describeRows(lake.events)}`);
  assert.deepEqual(lake.failed, [], 'events of this browser went to the failed-events store');
  assert.deepEqual(lake.events.map(label).sort(), want, `the lake should hold each expected event once; it held:\n${describeRows(lake.events)}`);
  if (onlyFetch) assert.deepEqual([...sentIds()].sort(), [...ids].sort(), 'the lake holds exactly the messages the SDK sent');
  return lake.events;
}

/** Checks the page reported no errors and no CSP violation (except `allowed` errors). */
async function assertQuiet(/** @type {Session} */ session, /** @type {RegExp} */ allowed = /^$/) {
  const violations = await session.page.evaluate(() => /** @type {any} */ (window).__violations || []);
  assert.deepEqual(violations, [], 'CSP violations');
  assert.deepEqual(session.errors.filter((e) => !allowed.test(e)), [], 'page or console errors');
}

describe('the pasted snippet against the real backend', () => {
  test('calls made before the SDK loads are replayed in order and land with the right user and account', { timeout: TEST_TIMEOUT }, async () => {
    app.page('/snippet', snippetPage(`
      window.__sdkBefore = !cxloop.version;
      cxloop.identify('user_snippet', { email: 'ada@example.com', name: 'Ada' });
      cxloop.track('Before Group', { step: 1 });
      cxloop.group('acct_x', { name: 'Acme', plan: 'pro', seats: 25 });
      cxloop.track('Report Exported', { format: 'csv' });
      cxloop.feature('reports');
    `));
    const session = await open('/snippet');
    const { page } = session;
    assert.equal(await page.evaluate(() => /** @type {any} */ (window).__sdkBefore), true, 'the SDK was loaded before the calls were made');
    assert.equal(await page.evaluate(() => /** @type {any} */ (window).cxloop.version), integrity.version);
    await page.evaluate(() => /** @type {any} */ (window).cxloop.feature('export-csv', { format: 'csv' }));
    await drain(session);
    await assertQuiet(session);
    await session.context.close();

    const subject = (/** @type {any} */ e) => ({ track: e.event, identify: e.userId, group: e.groupId, page: e.properties?.path })[/** @type {string} */ (e.type)];
    const order = session.sent.flatMap((body) => body.batch).map((e) => `${e.type}:${subject(e)}`);
    assert.deepEqual(order, ['identify:user_snippet', 'track:Before Group', 'group:acct_x', 'track:Report Exported', 'track:Feature Used', 'page:/snippet', 'track:Feature Used'], 'the replayed calls were sent in call order');
    const rows = await expectLake(session, ['identify:user_snippet', 'track:Before Group', 'group:acct_x', 'track:Report Exported', 'track:Feature Used:reports', 'page:/snippet', 'track:Feature Used:export-csv']);
    const row = (/** @type {string} */ name) => /** @type {LakeEvent} */ (rows.find((e) => label(e) === name));
    assert.equal(row('identify:user_snippet').traits.email, 'ada@example.com');
    assert.equal(row('track:Before Group').group_id, null, 'a track before group() has no account');
    assert.equal(row('group:acct_x').traits.plan, 'pro');
    for (const name of ['track:Report Exported', 'track:Feature Used:reports', 'page:/snippet', 'track:Feature Used:export-csv']) {
      assert.equal(row(name).group_id, 'acct_x', `${name} carries the account`);
      assert.equal(row(name).context.groupId, 'acct_x');
    }
    for (const e of rows) assert.equal(e.user_id, 'user_snippet', `${label(e)} carries the user`);
    assert.deepEqual(row('track:Feature Used:reports').properties, { feature: 'reports' });
    assert.deepEqual(row('track:Feature Used:export-csv').properties, { feature: 'export-csv', format: 'csv' });
    assert.equal(row('track:Report Exported').properties.format, 'csv');
    const pageView = row('page:/snippet');
    assert.equal(pageView.context.page.title, 'Vendor app');
    assert.equal(pageView.properties.url, app.origin + '/snippet');
    assert.deepEqual(pageView.context.library, { name: 'cxloop-js', version: integrity.version });
    assert.deepEqual(app.requests, [], 'nothing was sent to the app\'s own origin');
  });
});

describe('single-page apps against the real backend', () => {
  test('pushState, replaceState, popstate and hash routes land as one page view each', { timeout: TEST_TIMEOUT }, async () => {
    app.page('/spa', snippetPage());
    const session = await open('/spa');
    const { page } = session;
    const step = async (/** @type {string} */ script) => {
      await page.evaluate(script);
      await sleep(120);
    };
    await step(`history.pushState({}, '', '/spa/projects')`);
    await step(`history.pushState({}, '', '/spa/projects')`); // the same URL again: no page view
    await step(`history.replaceState({}, '', '/spa/projects?sort=name')`);
    await step(`location.hash = 'section-2'`); // an in-page anchor: no page view
    await step(`history.pushState({}, '', '/spa/login'); history.replaceState({}, '', '/spa/home'); document.title = 'Home'`); // a redirect: one
    await step(`location.hash = '#/settings'`);
    await step(`history.back()`); // popstate
    await drain(session);
    await assertQuiet(session);
    await session.context.close();

    const rows = await expectLake(session, ['page:/spa', 'page:/spa/projects', 'page:/spa/projects?sort=name', 'page:/spa/home', 'page:/spa/home#/settings', 'page:/spa/home']);
    assert.deepEqual(rows.map(label), ['page:/spa', 'page:/spa/projects', 'page:/spa/projects?sort=name', 'page:/spa/home', 'page:/spa/home#/settings', 'page:/spa/home'], 'page views in navigation order');
    assert.equal(rows[3].properties.title, 'Home');
    assert.equal(rows[3].properties.referrer, app.origin + '/spa/projects?sort=name', 'the referrer is the previous page view');
  });
});

describe('delivery to the real backend', () => {
  test('offline, then online: every event lands exactly once', { timeout: TEST_TIMEOUT }, async () => {
    app.page('/offline', snippetPage());
    const session = await open('/offline');
    const { context, page } = session;
    await drain(session);
    await context.setOffline(true);
    await page.evaluate(() => { for (let i = 0; i < 45; i++) /** @type {any} */ (window).cxloop.track('Offline ' + i, { i }); });
    await sleep(2500); // past flushAt and flushInterval
    assert.deepEqual((await lakeOf(session.anonymousId)).events.map(label), ['page:/offline'], 'only the page view landed while offline');
    assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.includes('.q.')).length), 1, 'the events wait in the outbox');
    await context.setOffline(false);
    await drain(session);
    await assertQuiet(session, /ERR_INTERNET_DISCONNECTED/);
    await context.close();

    const expected = ['page:/offline', ...Array.from({ length: 45 }, (_, i) => `track:Offline ${i}`)];
    const rows = await expectLake(session, expected);
    for (const e of rows.filter((r) => r.type === 'track')) assert.equal(e.properties.i, Number(String(e.event).split(' ')[1]));
  });

  test('closing the tab with a full queue delivers it with sendBeacon, exactly once', { timeout: TEST_TIMEOUT }, async () => {
    app.page('/close', snippetPage('', { loader: snippet().replace('t.init(s)', 't.init(s,{flushAt:1000,flushInterval:600000})') }));
    const session = await open('/close');
    const { context, page } = session;
    await page.evaluate(() => { for (let i = 0; i < 60; i++) /** @type {any} */ (window).cxloop.track('Before close ' + i, { i }); });
    await sleep(300);
    assert.deepEqual(session.sent, [], 'nothing was sent before the tab closed');
    await page.close();
    await expectLake(session, ['page:/close', ...Array.from({ length: 60 }, (_, i) => `track:Before close ${i}`)], { settle: 1000, onlyFetch: false });
    await context.close();
  });

  test('navigating away delivers the queue with sendBeacon, exactly once', { timeout: TEST_TIMEOUT }, async () => {
    app.page('/leave', snippetPage(`cxloop.track('Leaving soon')`, { loader: snippet().replace('t.init(s)', 't.init(s,{flushAt:1000,flushInterval:600000})') }));
    app.page('/elsewhere', '<!doctype html><title>elsewhere</title><p>no SDK here</p>');
    const session = await open('/leave');
    const { context, page } = session;
    await page.evaluate(() => /** @type {any} */ (window).cxloop.track('Clicked away'));
    await sleep(100);
    await page.goto(app.origin + '/elsewhere');
    await expectLake(session, ['page:/leave', 'track:Leaving soon', 'track:Clicked away'], { settle: 1000, onlyFetch: false });
    assert.deepEqual(session.sent, [], 'delivered by the beacon, not by fetch');
    await context.close();
  });
});

describe('hostile pages against the real backend', () => {
  test('a strict CSP (script-src \'self\' <backend>; connect-src <backend>) with the script-tag install', { timeout: TEST_TIMEOUT }, async () => {
    app.script('/csp-app.js', `cxloop.ready(() => { cxloop.identify('csp-user'); cxloop.track('CSP ok'); });`);
    app.page('/csp', `<!doctype html><html><head><meta charset="utf-8"><title>CSP</title>
      <script src="${backend.url}/sdk/v1/cxloop.min.js" data-write-key="${backend.writeKey}"></script>
      <script src="/csp-app.js"></script></head><body>strict</body></html>`,
    { 'Content-Security-Policy': `default-src 'none'; script-src 'self' ${backend.url}; connect-src ${backend.url}` });
    const session = await open('/csp');
    await drain(session);
    await assertQuiet(session);
    await session.context.close();
    const rows = await expectLake(session, ['identify:csp-user', 'track:CSP ok', 'page:/csp']);
    assert.equal(rows.find((e) => e.event === 'CSP ok')?.user_id, 'csp-user');
  });

  test('a nonce-based CSP: the pasted snippet passes its nonce to the SDK tag', { timeout: TEST_TIMEOUT }, async () => {
    const nonce = 'cXxvb3Atbm9uY2U';
    app.page('/nonce', snippetPage(`cxloop.track('Nonce ok')`, { nonce }),
      { 'Content-Security-Policy': `default-src 'none'; script-src 'nonce-${nonce}'; connect-src ${backend.url}` });
    const session = await open('/nonce');
    await drain(session);
    await assertQuiet(session);
    await session.context.close();
    await expectLake(session, ['track:Nonce ok', 'page:/nonce']);
  });

  test('a page that throws and replaces fetch, JSON and Storage after load still delivers', { timeout: TEST_TIMEOUT }, async () => {
    app.page('/hostile', snippetPage(`
      cxloop.ready(() => {
        window.fetch = () => { throw new Error('host replaced fetch'); };
        JSON.stringify = () => '"broken"';
        JSON.parse = () => { throw new Error('host replaced JSON.parse'); };
        Storage.prototype.setItem = () => { throw new Error('host replaced setItem'); };
        navigator.sendBeacon = () => { throw new Error('host replaced sendBeacon'); };
        setTimeout(() => { throw new Error('host bug'); });
        const circular = {}; circular.self = circular;
        cxloop.track('Circular', circular);
        cxloop.track('After hostility', { nested: { ok: true }, list: [1, 2] });
        history.pushState({}, '', '/hostile/next');
      });`));
    const session = await open('/hostile');
    const { page } = session;
    await page.evaluate(() => /** @type {any} */ (window).cxloop.track('Later', { n: 1 }));
    await sleep(200); // the SPA page view waits 50 ms after the route change
    await drain(session);
    await assertQuiet(session, /host bug|unserialisable|circular/i);
    await session.context.close();
    const rows = await expectLake(session, ['page:/hostile', 'page:/hostile/next', 'track:After hostility', 'track:Later']);
    assert.deepEqual(rows.find((e) => e.event === 'After hostility')?.properties, { nested: { ok: true }, list: [1, 2] });
  });
});

describe('the versioned SDK with Subresource Integrity', () => {
  test('the backend serves this build at /sdk/v1/ and /sdk/<version>/, matching dist/integrity.json', { timeout: TEST_TIMEOUT }, async () => {
    const built = readFileSync(new URL('cxloop.min.js', dist));
    for (const [channel, cache] of /** @type {const} */ ([['v1', /max-age=300\b/], [integrity.version, /max-age=31536000.*immutable/]])) {
      const response = await fetch(`${backend.url}/sdk/${channel}/cxloop.min.js`);
      assert.equal(response.status, 200, `GET /sdk/${channel}/cxloop.min.js`);
      const body = Buffer.from(await response.arrayBuffer());
      assert.ok(body.equals(built), `the backend serves a different /sdk/${channel}/cxloop.min.js than dist/ (stale build?)`);
      assert.match(response.headers.get('cache-control') || '', cache);
      assert.equal(response.headers.get('access-control-allow-origin'), '*');
    }
    assert.equal('sha384-' + createHash('sha384').update(built).digest('base64'), integrity['cxloop.min.js'], 'dist/integrity.json is the hash of dist/cxloop.min.js');
    const surveys = readFileSync(new URL('cxloop-surveys.min.js', dist));
    for (const channel of ['v1', integrity.version]) {
      const response = await fetch(`${backend.url}/sdk/${channel}/cxloop-surveys.min.js`);
      assert.equal(response.status, 200, `GET /sdk/${channel}/cxloop-surveys.min.js`);
      assert.ok(Buffer.from(await response.arrayBuffer()).equals(surveys), `the backend serves a different /sdk/${channel}/cxloop-surveys.min.js than dist/`);
    }
    assert.equal('sha384-' + createHash('sha384').update(surveys).digest('base64'), integrity['cxloop-surveys.min.js']);
  });

  test('the pinned snippet loads the versioned SDK, checked by SRI, and events land', { timeout: TEST_TIMEOUT }, async () => {
    app.page('/pinned', snippetPage(`cxloop.identify('sri-user'); cxloop.track('Pinned ok')`, { loader: pinnedSnippet() }));
    const session = await open('/pinned');
    const tag = await session.page.evaluate(() => {
      const s = /** @type {HTMLScriptElement} */ (document.querySelector('script[src*="cxloop.min.js"]'));
      return { src: s.src, integrity: s.integrity, crossOrigin: s.crossOrigin };
    });
    assert.deepEqual(tag, { src: `${backend.url}/sdk/${integrity.version}/cxloop.min.js`, integrity: integrity['cxloop.min.js'], crossOrigin: 'anonymous' });
    await drain(session);
    await assertQuiet(session);
    await session.context.close();
    await expectLake(session, ['identify:sri-user', 'track:Pinned ok', 'page:/pinned']);

    // The check is real: a wrong hash keeps the SDK from running.
    const wrong = 'sha384-' + createHash('sha384').update('not the SDK').digest('base64');
    app.page('/pinned-wrong', snippetPage(`cxloop.track('Never sent')`, { loader: pinnedSnippet(wrong) }));
    const blocked = await open('/pinned-wrong', { waitForSdk: false });
    await sleep(500);
    assert.equal(await blocked.page.evaluate(() => /** @type {any} */ (window).cxloop.version), undefined, 'the SDK ran despite a wrong SRI hash');
    assert.ok(blocked.errors.some((e) => /integrity/i.test(e)), `expected an SRI error in the console: ${JSON.stringify(blocked.errors)}`);
    assert.deepEqual(blocked.sent, []);
    await blocked.context.close();
  });
});

describe('surveys against the real backend', () => {
  /**
   * The private API of the surveys project, as a vendor's server calls it.
   * @param {string} method @param {string} path @param {unknown} [body]
   */
  const api = async (method, path, body) => {
    const response = await fetch(backend.url + path, {
      method,
      headers: { Authorization: `Bearer ${backend.surveysProject.secret_key}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };

  test('a survey made with the API is shown from /v1/sdk/config, answered by keyboard, lands once, completes one response, and its account cap holds', { timeout: 60000 }, async () => {
    const created = await api('POST', '/v1/surveys', {
      name: 'E2E NPS', kind: 'nps',
      question: { en: 'How likely are you to recommend us?', 'zh-CN': '您向同事推荐我们的可能性有多大？' },
      follow_up: { default: { en: 'Why?' }, passive: { en: 'What would make it a 10?' } },
      feature: 'reports', trigger: { min_page_views: 1 }, account_cap: { max_responses: 1, period_days: 30 },
      placement: 'popover',
    });
    await api('POST', `/v1/surveys/${created.id}/activate`);
    const { write_key: writeKey } = backend.surveysProject;
    const script = `cxloop.identify('rater-1', { role: 'admin' }); cxloop.group('acct_rate', { plan: 'pro', seats: 12 });`;
    app.page('/rate', snippetPage(script, { loader: snippetFor(backend.url, writeKey).trim() }));
    const session = await open('/rate');
    const { page } = session;
    const panel = page.locator('cxloop-survey .panel');
    await panel.waitFor({ timeout: 10000 });
    assert.equal(await page.locator('cxloop-survey .question').textContent(), 'How likely are you to recommend us?');
    await page.keyboard.press('Tab');
    for (let i = 0; i < 7; i++) await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    await page.locator('cxloop-survey textarea').waitFor();
    await page.keyboard.type('Faster exports, 更快的导出');
    await page.keyboard.press('Enter');
    await page.locator('cxloop-survey .thanks').filter({ hasText: 'Thank you' }).waitFor();
    await drain(session);
    await assertQuiet(session);
    await session.context.close();

    const rows = await expectLake(session, ['identify:rater-1', 'group:acct_rate', 'page:/rate', 'track:Survey Shown', 'track:Survey Responded', 'track:Survey Responded']);
    const responded = rows.filter((e) => e.event === 'Survey Responded');
    assert.deepEqual(responded.map((e) => [e.properties.partial, e.properties.score, e.properties.comment ?? null]), [[true, 7, null], [false, 7, 'Faster exports, 更快的导出']]);
    assert.equal(responded[0].properties.response_id, responded[1].properties.response_id);
    assert.ok(responded.every((e) => e.group_id === 'acct_rate' && e.user_id === 'rater-1'));

    // One response, completed by the comment, in PostgreSQL.
    /** @type {any[]} */
    let responses = [];
    for (const end = Date.now() + 15000; Date.now() < end; await sleep(200)) {
      responses = (await api('GET', `/v1/responses?survey_id=${created.id}`)).responses;
      if (responses.length && responses[0].partial === false) break;
    }
    assert.equal(responses.length, 1, JSON.stringify(responses));
    const [response] = responses;
    assert.deepEqual(
      [response.response_id, response.score, response.comment, response.partial, response.user_id, response.account_id, response.feature],
      [responded[0].properties.response_id, 7, 'Faster exports, 更快的导出', false, 'rater-1', 'acct_rate', 'reports'],
    );

    // The account has had its one response: the config leaves the survey out for it, so the SDK
    // of another user of that account does not even load the surveys bundle; another account still gets it.
    const config = async (/** @type {string} */ groupId) => (await (await fetch(`${backend.url}/v1/sdk/config?writeKey=${writeKey}&groupId=${groupId}`)).json()).surveys.map((/** @type {any} */ s) => s.id);
    assert.deepEqual(await config('acct_rate'), []);
    assert.deepEqual(await config('acct_other'), [created.id]);
    app.page('/rate-again', snippetPage(`cxloop.identify('rater-2'); cxloop.group('acct_rate');`, { loader: snippetFor(backend.url, writeKey).trim() }));
    const again = await open('/rate-again');
    const loaded = async () => again.page.evaluate(() => performance.getEntriesByType('resource').map((r) => r.name.replace(/^https?:\/\/[^/]+/, '').replace(/\?.*/, '')));
    for (const end = Date.now() + 10000; !(await loaded()).includes('/v1/sdk/config') && Date.now() < end;) await sleep(100);
    await sleep(1000);
    assert.deepEqual((await loaded()).filter((path) => path.startsWith('/v1/sdk') || path.includes('cxloop-surveys')), ['/v1/sdk/config']);
    assert.equal(await again.page.locator('cxloop-survey').count(), 0);
    await assertQuiet(again);
    await again.context.close();
  });
});
