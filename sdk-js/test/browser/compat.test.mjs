// Drop-in compatibility and resilience against the real cxloop server, in a real headless
// Chromium, cross-origin (pages on the test app's 127.0.0.1 origin, cxloop behind a proxy on
// localhost: test/browser/proxy.mjs):
// - Segment's analytics-next, unmodified (the npm package as published, bundled by esbuild),
//   pointed at cxloop by its `cdnURL` alone: it loads its settings from cxloop and its
//   track/identify/group/page land in the lake, including one retried after a 503 with its
//   X-Retry-Count header (which needs a CORS preflight of its own).
// - RudderStack's JS SDK v3, unmodified (its npm build with the plugins inside), pointed at
//   cxloop by its data plane URL and `configUrl`.
// - the cxloop SDK with one poisoned event that the server fails on (a 500 without CORS, what a
//   crashing server looks like to a browser): the others land, the poisoned one is reported.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { startProxy } from './proxy.mjs';
import { app, backend, browser, useRealBackend } from './stack.mjs';

/** @typedef {import('./backend.mjs').LakeEvent} LakeEvent */

const root = fileURLToPath(new URL('../../', import.meta.url));
const TEST_TIMEOUT = 90000;
/** The routes analytics-next posts events to: `<apiHost>/<first letter of the type>`. */
const SEGMENT_EVENT_PATH = /^\/v1\/[tipgas]$/;

/** `contents` (imports of npm packages as published) bundled by esbuild for a plain <script> tag. */
async function scriptBundle(/** @type {string} */ contents, /** @type {import('esbuild').BuildOptions} */ options = {}) {
  const bundle = await esbuild.build({
    stdin: { contents, resolveDir: root, loader: 'js' },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2018',
    write: false,
    logLevel: 'warning',
    ...options,
  });
  return /** @type {import('esbuild').OutputFile[]} */ (bundle.outputFiles)[0].text;
}

useRealBackend({
  async setup() {
    // analytics-next exactly as npm ships it.
    app.script('/analytics-next.js', await scriptBundle(
      "import { AnalyticsBrowser } from '@segment/analytics-next'; window.AnalyticsBrowser = AnalyticsBrowser;",
      { define: { 'process.env.NODE_ENV': '"production"' } },
    ));
    // RudderStack's JS SDK as npm ships it, its build with the plugins inside (the default build
    // loads them from RudderStack's CDN).
    app.script('/rudderstack.js', await scriptBundle(
      "import { RudderAnalytics } from '@rudderstack/analytics-js/bundled'; window.RudderAnalytics = RudderAnalytics;",
    ));
  },
});

/** A fresh browser context on an app page, recording every request, page and console errors. */
async function open(/** @type {string} */ path) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const session = { context, page, urls: /** @type {string[]} */ ([]), errors: /** @type {string[]} */ ([]) };
  context.on('request', (request) => session.urls.push(request.url()));
  page.on('pageerror', (error) => session.errors.push(String(error)));
  page.on('console', (message) => { if (message.type() === 'error') session.errors.push(message.text()); });
  await page.goto(app.origin + path);
  return session;
}

/** Waits until the lake holds `count` events matching `mine`, then returns them (after stragglers had a chance). */
async function lakeRows(/** @type {(e: LakeEvent) => boolean} */ mine, /** @type {number} */ count, timeout = 30000) {
  /** @type {LakeEvent[]} */
  let rows = [];
  const end = Date.now() + timeout;
  for (;;) {
    rows = (await backend.lake()).events.filter(mine);
    if (rows.length >= count) break;
    if (Date.now() > end) throw new Error(`timed out: the lake held ${rows.length} of ${count} events: ${JSON.stringify(rows.map((e) => [e.type, e.event, e.name]))}\n${backend.logTail(8)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  return (await backend.lake()).events.filter(mine);
}

describe('Segment analytics-next, unmodified, pointed at cxloop by its cdnURL', () => {
  test('settings come from cxloop; track, identify, group and page land once each, one of them after a 503 and a retry with X-Retry-Count', { timeout: TEST_TIMEOUT }, async () => {
    let refused = '';
    const proxy = await startProxy(backend.url, ({ method, path, body }) => {
      if (refused || method !== 'POST' || !SEGMENT_EVENT_PATH.test(path)) return null;
      refused = JSON.parse(body).messageId;
      // As cxloop answers when overloaded: CORS, Retry-After and {code, message}.
      return {
        status: 503,
        headers: { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*', 'Retry-After': '1' },
        body: '{"code":"overloaded","message":"too many requests in flight; retry"}',
      };
    });
    try {
      app.page('/segment', `<!doctype html><html><head><meta charset="utf-8"><title>Pricing</title>
<script src="/analytics-next.js"></script>
<script>
  window.analytics = AnalyticsBrowser.load({ writeKey: ${JSON.stringify(backend.writeKey)}, cdnURL: ${JSON.stringify(proxy.origin)} });
  analytics.identify('user_segment', { email: 'ada@example.com', plan: 'pro' });
  analytics.group('acct_segment', { name: 'Acme', seats: 25 });
  analytics.track('Report Exported', { format: 'csv' });
  analytics.page('Pricing', { section: 'plans' });
</script></head><body><h1>pricing</h1></body></html>`);
      const session = await open('/segment');
      const rows = await lakeRows((e) => e.user_id === 'user_segment', 4);
      await session.context.close();

      const settings = proxy.requests.find((r) => r.path === `/v1/projects/${backend.writeKey}/settings`);
      assert.equal(settings?.answeredBy, 'cxloop', 'analytics-next loaded its settings from cxloop');
      assert.equal(settings?.status, 200);
      assert.deepEqual(session.urls.filter((url) => !url.startsWith(app.origin) && !url.startsWith(proxy.origin)), [], 'nothing went anywhere else (no Segment CDN or API)');

      // The retry: the same message, with the library's retry header, after a preflight that allowed it.
      assert.ok(refused, 'an event request was answered 503');
      const retries = proxy.requests.filter((r) => r.method === 'POST' && r.answeredBy === 'cxloop' && JSON.parse(r.body).messageId === refused);
      assert.equal(retries.length, 1, 'the refused event was sent again once');
      assert.equal(retries[0].status, 200);
      assert.ok(Number(retries[0].headers['x-retry-count']) >= 1, `the retry carries X-Retry-Count: ${JSON.stringify(retries[0].headers)}`);
      assert.match(String(retries[0].headers.authorization), /^Basic /);
      const preflights = proxy.requests.filter((r) => r.method === 'OPTIONS' && r.path === retries[0].path
        && String(r.headers['access-control-request-headers']).toLowerCase().includes('x-retry-count'));
      assert.ok(preflights.length >= 1, 'the retry was preflighted');
      assert.ok(preflights.every((r) => r.answeredBy === 'cxloop' && r.status === 204), 'cxloop allowed it');

      const label = (/** @type {LakeEvent} */ e) => `${e.type}:${e.event || e.name || e.group_id || e.user_id}`;
      assert.deepEqual(rows.map(label).sort(), ['group:acct_segment', 'identify:user_segment', 'page:Pricing', 'track:Report Exported']);
      assert.equal(new Set(rows.map((e) => e.message_id)).size, 4, 'each event once');
      assert.ok(rows.some((e) => e.message_id === refused), 'the refused event landed');
      const row = (/** @type {string} */ type) => /** @type {LakeEvent} */ (rows.find((e) => e.type === type));
      assert.equal(row('identify').traits.email, 'ada@example.com');
      assert.equal(row('group').traits.seats, 25);
      assert.equal(row('track').properties.format, 'csv');
      assert.equal(row('page').properties.section, 'plans');
      assert.equal(row('track').context.library.name, 'analytics.js');
      assert.deepEqual(session.errors.filter((e) => !/status of 503/.test(e)), [], 'page or console errors');
    } finally {
      await proxy.close();
    }
  });

  test('an unknown write key: the settings answer 404 with CORS and a message the library prints', { timeout: TEST_TIMEOUT }, async () => {
    const proxy = await startProxy(backend.url);
    try {
      app.page('/segment-unknown', `<!doctype html><html><head><meta charset="utf-8">
<script src="/analytics-next.js"></script>
<script>
  window.loaded = AnalyticsBrowser.load({ writeKey: 'wk_not_a_key', cdnURL: ${JSON.stringify(proxy.origin)} }).then(() => 'loaded', (e) => 'failed: ' + e.message);
</script></head><body></body></html>`);
      const session = await open('/segment-unknown');
      const outcome = await session.page.evaluate(() => /** @type {any} */ (window).loaded);
      await session.context.close();
      assert.match(outcome, /^failed: .*invalid_write_key/);
      const settings = proxy.requests.find((r) => r.path === '/v1/projects/wk_not_a_key/settings');
      assert.equal(settings?.status, 404);
      assert.ok(session.errors.some((e) => /unknown write key/.test(e)), `the library printed the server's message: ${JSON.stringify(session.errors)}`);
    } finally {
      await proxy.close();
    }
  });
});

describe('RudderStack JS SDK v3, unmodified, pointed at cxloop by its data plane and config URLs', () => {
  test('the source config comes from cxloop; track, identify, group and page land once each', { timeout: TEST_TIMEOUT }, async () => {
    const proxy = await startProxy(backend.url);
    try {
      app.page('/rudderstack', `<!doctype html><html><head><meta charset="utf-8"><title>Pricing</title>
<script src="/rudderstack.js"></script>
<script>
  window.rudder = new RudderAnalytics();
  rudder.load(${JSON.stringify(backend.writeKey)}, ${JSON.stringify(proxy.origin)}, { configUrl: ${JSON.stringify(proxy.origin)} });
  rudder.identify('user_rudder', { email: 'grace@example.com' });
  rudder.group('acct_rudder', { name: 'Globex', seats: 10 });
  rudder.track('Rudder Tracked', { format: 'pdf' });
  rudder.page('Docs', 'Pricing', { section: 'plans' });
</script></head><body><h1>pricing</h1></body></html>`);
      const session = await open('/rudderstack');
      const rows = await lakeRows((e) => e.user_id === 'user_rudder', 4);
      await session.context.close();

      const config = proxy.requests.find((r) => r.method === 'GET' && r.path.startsWith('/sourceConfig'));
      assert.equal(config?.status, 200, 'RudderStack loaded its source config from cxloop');
      assert.deepEqual(session.urls.filter((url) => !url.startsWith(app.origin) && !url.startsWith(proxy.origin)), [], 'nothing went anywhere else (no RudderStack CDN or API)');
      const posts = proxy.requests.filter((r) => r.method === 'POST');
      assert.ok(posts.length >= 4 && posts.every((r) => r.status === 200), JSON.stringify(posts.map((r) => [r.path, r.status])));
      assert.ok(posts.some((r) => r.headers.anonymousid), 'its AnonymousId header passed the CORS preflight');

      const label = (/** @type {LakeEvent} */ e) => `${e.type}:${e.event || e.name || e.group_id || e.user_id}`;
      assert.deepEqual(rows.map(label).sort(), ['group:acct_rudder', 'identify:user_rudder', 'page:Pricing', 'track:Rudder Tracked']);
      assert.equal(new Set(rows.map((e) => e.message_id)).size, 4, 'each event once');
      const row = (/** @type {string} */ type) => /** @type {LakeEvent} */ (rows.find((e) => e.type === type));
      // RudderStack sends an identify's traits as context.traits (no top-level traits).
      assert.equal(row('identify').context.traits.email, 'grace@example.com');
      assert.equal(row('group').traits.seats, 10);
      assert.equal(row('track').properties.format, 'pdf');
      assert.equal(row('page').properties.section, 'plans');
      assert.deepEqual(session.errors, [], 'page or console errors');
    } finally {
      await proxy.close();
    }
  });
});

describe('the cxloop SDK with a poisoned event', () => {
  test('a batch the server keeps failing on (500 without CORS) is split: the others land once, the poisoned event is dropped and reported once another event gets through', { timeout: TEST_TIMEOUT }, async () => {
    const POISON = 'Poison Pill';
    const proxy = await startProxy(backend.url, ({ method, path, body }) => (method === 'POST' && path === '/v1/batch' && body.includes(`"event":"${POISON}"`)
      // What a crashing server answers: no CORS header, so the browser reports a network error.
      ? { status: 500, headers: { 'Content-Type': 'text/plain' }, body: 'Internal Server Error' }
      : null));
    try {
      app.page('/poison', `<!doctype html><html><head><meta charset="utf-8">
<script src="${proxy.origin}/sdk/v1/cxloop.min.js"></script>
<script>
  window.dropped = [];
  cxloop.init(${JSON.stringify(backend.writeKey)}, { host: ${JSON.stringify(proxy.origin)}, autoPage: false, flushAt: 12, onError: (e) => dropped.push(e) });
  for (let i = 0; i < 12; i++) cxloop.track(i === 5 ? ${JSON.stringify(POISON)} : 'Good ' + i, { i });
</script></head><body></body></html>`);
      const session = await open('/poison');
      const anonymousId = await session.page.evaluate(() => /** @type {any} */ (window).cxloop.user().anonymousId);
      await lakeRows((e) => e.anonymous_id === anonymousId, 11, 60000);
      // Alone, the poisoned event is kept: nothing proves yet that the server takes other events
      // (it might be down for everyone). The next event that gets through is that proof.
      assert.deepEqual(await session.page.evaluate(() => /** @type {any} */ (window).dropped), []);
      await session.page.evaluate(() => /** @type {any} */ (window).cxloop.track('After'));
      await session.page.waitForFunction(() => /** @type {any} */ (window).dropped.length > 0, null, { timeout: 60000 });
      const rows = await lakeRows((e) => e.anonymous_id === anonymousId, 12, 30000);
      const dropped = await session.page.evaluate(() => /** @type {any} */ (window).dropped);
      const outbox = await session.page.evaluate(() => Object.keys(localStorage).filter((k) => k.includes('.q.')));
      await session.context.close();

      assert.deepEqual(rows.map((e) => e.event).sort(), ['After', ...Array.from({ length: 12 }, (_, i) => 'Good ' + i).filter((n) => n !== 'Good 5')].sort());
      assert.equal(new Set(rows.map((e) => e.message_id)).size, 12, 'each event once');
      const poisonId = proxy.requests.map((r) => JSON.parse(r.body || 'null')?.batch?.find((/** @type {any} */ e) => e.event === POISON)?.messageId).find(Boolean);
      assert.deepEqual(dropped, [{ status: 0, messageIds: [poisonId], message: dropped[0].message }]);
      assert.deepEqual(outbox, [], 'nothing is left in the outbox');
      const attempts = proxy.requests.filter((r) => r.method === 'POST');
      assert.ok(attempts.length < 30, `${attempts.length} requests`);
    } finally {
      await proxy.close();
    }
  });
});
