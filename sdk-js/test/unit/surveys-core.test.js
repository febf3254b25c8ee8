// The core's side of surveys, on the source and on the minified build: the config request, when
// the surveys bundle is loaded and from where, and the plug it is handed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { builds } from '../helpers/builds.js';
import { fakeWindow } from '../helpers/fake-browser.js';
import { HOST, WRITE_KEY, setup } from '../helpers/setup.js';

const mangled = JSON.parse(readFileSync(new URL('../../mangle-cache.json', import.meta.url), 'utf8'));
/** The plug on the bundle's script element, under its source or its mangled name. */
const plugOf = (/** @type {any} */ script) => script._plug || script[mangled._plug];
const plain = (/** @type {unknown} */ value) => JSON.parse(JSON.stringify(value));

const SURVEY = { id: 'srv_1', kind: 'nps', question: { en: 'How likely…?' }, trigger: { min_page_views: 1 } };
const CONFIG = { cooldown_days: 14, snooze_days: 3, surveys: [SURVEY] };

for (const build of builds) {
  describe(`surveys in the core (${build.name})`, () => {
    test('after init, an idle moment asks for the config once, with the account of the replayed group call', async () => {
      const { cx, clock, network, win } = setup(build, { init: false });
      cx.group('acct 7/é');
      cx.init(WRITE_KEY, { host: HOST + '/', autoPage: false });
      assert.equal(network.gets.length, 0, 'not on the init path');
      await clock.advance(0);
      assert.equal(network.gets.length, 1);
      const [{ url, init }] = network.gets;
      assert.equal(url, `${HOST}/v1/sdk/config?writeKey=${WRITE_KEY}&groupId=acct%207%2F%C3%A9`);
      // A simple GET: no header of ours (no CORS preflight), no cookies; the HTTP cache revalidates it.
      assert.deepEqual(plain(init), { credentials: 'omit' });
      await clock.advance(60000);
      assert.equal(network.gets.length, 1);
      assert.deepEqual(win._test.scripts, [], 'no survey listed: no bundle');
    });

    test('without an account, no groupId; with no survey listed, survey() does nothing', async () => {
      const { cx, clock, network, win } = setup(build);
      await clock.advance(0);
      assert.equal(network.gets[0].url, `${HOST}/v1/sdk/config?writeKey=${WRITE_KEY}`);
      cx.survey('srv_1');
      await clock.advance(1000);
      assert.deepEqual(win._test.scripts, []);
    });

    test('a listed survey loads the bundle from the core\'s directory, with its nonce, and hands it the plug', async () => {
      const win = fakeWindow({ url: 'https://app.example.com/reports' });
      const { clock, network } = win._test;
      network.config = { status: 200, body: CONFIG };
      win.document.currentScript = { src: 'https://cdn.example.com/sdk/0.1.0/cxloop.min.js?x=1', nonce: 'n0nce', dataset: {} };
      const cx2 = build.load(win);
      cx2.identify('u-1', { role: 'admin' });
      cx2.init(WRITE_KEY, { host: HOST, locale: 'zh-TW' });
      cx2.survey('srv_1');
      await clock.advance(0);
      const [script] = win._test.scripts;
      assert.equal(script.tagName, 'SCRIPT');
      assert.equal(script.src, 'https://cdn.example.com/sdk/0.1.0/cxloop-surveys.min.js');
      assert.equal(script.nonce, 'n0nce');
      const [api, config, writeKey, options, store, feed] = plugOf(script);
      assert.equal(api, cx2);
      assert.deepEqual(plain(config), CONFIG);
      assert.equal(writeKey, WRITE_KEY);
      assert.equal(options.locale, 'zh-TW');
      assert.equal(typeof (store._get || store[mangled._get]), 'function');
      // The calls since init, in order: the replayed identify, survey(), then the automatic page view.
      assert.deepEqual(plain(feed.map((/** @type {any[]} */ call) => call.slice(0, 2))), [
        ['identify', { traits: { role: 'admin' } }],
        ['survey', 'srv_1'],
        ['page', { properties: { path: '/reports', url: 'https://app.example.com/reports', title: 'Dashboard', referrer: 'https://www.example.org/', search: '' } }],
      ]);
      assert.equal(feed[0][5], 'u-1', 'a call carries the ids it was captured with');
      // The bundle takes over the feed as the core takes over the snippet's stub.
      const seen = /** @type {unknown[]} */ ([]);
      feed.push = (/** @type {unknown[]} */ ...calls) => seen.push(...calls);
      cx2.feature('reports');
      cx2.survey('srv_2');
      assert.deepEqual(plain(seen.map((/** @type {any} */ c) => c[0])), ['track', 'survey']);
    });

    test('the ES module (no script tag) loads the bundle from <host>/sdk/v1/, with the nonce option', async () => {
      const { win, clock, network } = setup(build, { init: false });
      network.config = { status: 200, body: CONFIG };
      win.cxloop.init(WRITE_KEY, { host: HOST, nonce: 'opt-nonce', autoPage: false });
      await clock.advance(0);
      const [script] = win._test.scripts;
      assert.equal(script.src, `${HOST}/sdk/v1/cxloop-surveys.min.js`);
      assert.equal(script.nonce, 'opt-nonce');
    });

    test('a bundle that fails to load stops the feed', async () => {
      const { win, clock, network } = setup(build, { options: { autoPage: false } });
      network.config = { status: 200, body: CONFIG };
      await clock.advance(0);
      const [script] = win._test.scripts;
      const feed = plugOf(script)[5];
      win.cxloop.track('Before the error');
      assert.equal(feed.length, 1);
      script.onerror();
      win.cxloop.track('After the error');
      win.cxloop.survey('srv_1');
      assert.equal(feed.length, 1, 'calls are no longer kept for a bundle that will not come');
    });

    for (const [name, answer] of /** @type {const} */ ([
      ['a 404', { status: 404, body: 'not json' }],
      ['a network error', 'network-error'],
      ['a config without surveys', { status: 200, body: { cooldown_days: 14 } }],
    ])) {
      test(`${name} loads nothing and breaks nothing`, async () => {
        const { win, cx, clock, network, warnings } = setup(build);
        network.config = /** @type {any} */ (answer);
        await clock.advance(0);
        cx.track('Still delivered');
        cx.survey('srv_1');
        await clock.advance(3000);
        assert.deepEqual(win._test.scripts, []);
        assert.deepEqual(network.events().map((e) => e.event), ['Still delivered']);
        assert.deepEqual(warnings, []);
      });
    }

    test('an opted-out user makes no config request', async () => {
      const { cx, clock, network } = setup(build, { init: false });
      cx.optOut();
      cx.init(WRITE_KEY, { host: HOST });
      await clock.advance(5000);
      assert.deepEqual(network.gets, []);
    });
  });
}
