// Public API and payloads, on the source and on the minified build.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { builds } from '../helpers/builds.js';
import { fakeWindow } from '../helpers/fake-browser.js';
import { HOST, UUID_V4, WRITE_KEY, setup } from '../helpers/setup.js';

/** Values from the minified build live in another realm: compare them as plain data. */
const plain = (/** @type {unknown} */ value) => JSON.parse(JSON.stringify(value));

for (const build of builds) {
  describe(`api (${build.name})`, () => {
    test('track sends a Segment Spec batch to <host>/v1/batch', async () => {
      const { cx, clock, network } = setup(build);
      const at = clock.now;
      cx.track('Report Exported', { format: 'csv', rows: 120 });
      await clock.advance(2000);
      assert.equal(network.requests.length, 1);
      const [request] = network.requests;
      assert.equal(request.url, HOST + '/v1/batch');
      assert.equal(request.init.method, 'POST');
      assert.equal(typeof request.init.body, 'string', 'a string body goes as text/plain: no CORS preflight');
      assert.equal(request.init.keepalive, true);
      assert.equal(request.init.credentials, 'omit');
      assert.equal(request.init.headers, undefined);
      assert.deepEqual(Object.keys(request.body), ['batch', 'sentAt', 'writeKey']);
      assert.equal(request.body.writeKey, WRITE_KEY);
      assert.equal(request.body.sentAt, new Date(clock.now).toISOString());
      const [event] = request.body.batch;
      assert.equal(event.type, 'track');
      assert.equal(event.event, 'Report Exported');
      assert.deepEqual(event.properties, { format: 'csv', rows: 120 });
      assert.match(event.messageId, UUID_V4);
      assert.match(event.anonymousId, UUID_V4);
      assert.equal(event.timestamp, new Date(at).toISOString());
      assert.deepEqual(event.context.page, {
        path: '/dashboard',
        url: 'https://app.example.com/dashboard?tab=1',
        title: 'Dashboard',
        referrer: 'https://www.example.org/',
        search: '?tab=1',
      });
      assert.equal(event.context.locale, 'en-GB');
      assert.equal(event.context.userAgent, 'FakeBrowser/1.0');
      assert.equal(event.context.timezone, Intl.DateTimeFormat().resolvedOptions().timeZone);
      assert.deepEqual(event.context.screen, { width: 1440, height: 900 });
      assert.deepEqual(event.context.library, { name: 'cxloop-js', version: '0.1.0' });
    });

    test('identify, group, feature and page carry the ids and account', async () => {
      const { cx, clock, network } = setup(build);
      cx.track('Before');
      cx.identify('user-42', { email: 'a@b.co', plan: 'pro' });
      cx.group('acct-7', { name: 'Acme', seats: 25 });
      cx.feature('export-csv', { rows: 3 });
      cx.page('Settings', { section: 'billing' });
      await clock.advance(2000);
      const [before, identify, group, feature, page] = network.events();
      assert.equal(before.userId, undefined);
      assert.equal(before.context.groupId, undefined);
      assert.deepEqual([identify.type, identify.userId, identify.traits], ['identify', 'user-42', { email: 'a@b.co', plan: 'pro' }]);
      assert.deepEqual([group.type, group.groupId, group.traits, group.userId], ['group', 'acct-7', { name: 'Acme', seats: 25 }, 'user-42']);
      assert.equal(group.context.groupId, 'acct-7');
      assert.deepEqual([feature.type, feature.event, feature.properties], ['track', 'Feature Used', { rows: 3, feature: 'export-csv' }]);
      assert.equal(feature.context.groupId, 'acct-7');
      assert.equal(feature.userId, 'user-42');
      assert.equal(page.type, 'page');
      assert.equal(page.name, 'Settings');
      assert.deepEqual(page.properties, {
        path: '/dashboard', url: 'https://app.example.com/dashboard?tab=1', title: 'Dashboard',
        referrer: 'https://www.example.org/', search: '?tab=1', section: 'billing',
      });
      const anonymousIds = new Set(network.events().map((e) => e.anonymousId));
      assert.equal(anonymousIds.size, 1);
    });

    test('identify with traits only keeps the current user', async () => {
      const { cx, clock, network } = setup(build);
      cx.identify('u1');
      cx.identify({ theme: 'dark' });
      await clock.advance(2000);
      assert.deepEqual(network.events().map((e) => [e.userId, e.traits]), [['u1', undefined], ['u1', { theme: 'dark' }]]);
    });

    test('ids survive a reload; reset() starts a new anonymous visitor', async () => {
      const first = setup(build);
      first.cx.identify('user-1');
      first.cx.group('acct-1');
      const { anonymousId } = first.cx.user();
      await first.clock.advance(0); // ids are saved in an idle moment
      const again = setup(build, { window: { storage: first.storage, clock: first.clock } });
      assert.deepEqual(plain(again.cx.user()), { anonymousId, userId: 'user-1', groupId: 'acct-1' });
      again.cx.reset();
      const after = again.cx.user();
      await again.clock.advance(0);
      assert.notEqual(after.anonymousId, anonymousId);
      assert.match(after.anonymousId, UUID_V4);
      assert.deepEqual([after.userId, after.groupId], [null, null]);
      const third = setup(build, { window: { storage: first.storage, clock: first.clock } });
      assert.deepEqual(plain(third.cx.user()), plain(after));
    });

    test('ready callbacks run after init, or at once when already initialised', () => {
      const { cx } = setup(build, { init: false });
      const seen = [];
      cx.ready((/** @type {any} */ api) => seen.push(['early', api === cx]));
      cx.init(WRITE_KEY, { host: HOST, autoPage: false });
      cx.ready(() => seen.push(['late']));
      cx.ready(() => { throw new Error('vendor bug'); });
      assert.deepEqual(seen, [['early', true], ['late']]);
    });

    test('calls before init wait and run in order with their own timestamps', async () => {
      const { cx, clock, network } = setup(build, { init: false });
      const t0 = clock.now;
      cx.identify('early-user');
      cx.track('Early');
      await clock.advance(5000);
      assert.equal(network.requests.length, 0);
      cx.init(WRITE_KEY, { host: HOST, autoPage: false });
      await clock.advance(2000);
      const events = network.events();
      assert.deepEqual(events.map((e) => e.type), ['identify', 'track']);
      assert.equal(events[1].userId, 'early-user');
      assert.equal(events[1].timestamp, new Date(t0).toISOString());
    });

    test('the snippet stub is replayed in order, with the time of each call', async () => {
      const win = fakeWindow();
      const t0 = win._test.clock.now;
      const stub = /** @type {any[]} */ ([]);
      stub.push(['init', [WRITE_KEY, { host: HOST, autoPage: false }], t0]);
      stub.push(['identify', ['u-1'], t0 + 1]);
      stub.push(['group', ['acct-1', { plan: 'pro' }], t0 + 2]);
      stub.push(['track', ['Clicked', { n: 1 }], t0 + 3]);
      stub.push(['nonsense', [], t0 + 4]);
      win.cxloop = stub;
      win._test.clock.now += 1500; // the SDK arrives later
      const cx = build.load(win);
      assert.notEqual(cx, stub);
      stub.push(['track', ['Via old stub reference'], win._test.clock.now]);
      await win._test.clock.advance(2000);
      const events = win._test.network.events();
      assert.deepEqual(events.map((e) => e.type + ':' + (e.event || e.groupId || e.userId)), ['identify:u-1', 'group:acct-1', 'track:Clicked', 'track:Via old stub reference']);
      assert.deepEqual(events.slice(0, 3).map((e) => Date.parse(e.timestamp) - t0), [1, 2, 3]);
      assert.equal(events[2].context.groupId, 'acct-1');
    });

    test('the SDK can be configured from its script tag', async () => {
      const win = fakeWindow();
      win.document.currentScript = { src: 'https://cdn.cx.example.com/sdk/v1/cxloop.min.js', dataset: { writeKey: 'wk_tag', autoPage: 'false', flushAt: '2' } };
      const cx = build.load(win);
      cx.track('A');
      cx.track('B');
      await win._test.clock.advance(0);
      const [request] = win._test.network.requests;
      assert.equal(request.url, 'https://cdn.cx.example.com/v1/batch');
      assert.equal(request.body.writeKey, 'wk_tag');
      assert.deepEqual(request.body.batch.map((/** @type {any} */ e) => e.event), ['A', 'B']);
    });

    test('without a host option, events go to the page origin', async () => {
      const win = fakeWindow({ url: 'https://app.example.com/x' });
      const cx = build.load(win);
      cx.init(WRITE_KEY, { autoPage: false });
      cx.track('A');
      await win._test.clock.advance(2000);
      assert.equal(win._test.network.requests[0].url, 'https://app.example.com/v1/batch');
    });

    test('loading the SDK twice keeps the first copy', () => {
      const win = fakeWindow();
      const first = build.load(win);
      const second = build.load(win);
      assert.equal(first, second);
    });

    test('init without a write key warns and does nothing', async () => {
      const { cx, clock, network, warnings } = setup(build, { init: false });
      cx.init('');
      cx.track('x');
      await clock.advance(5000);
      assert.equal(network.requests.length, 0);
      assert.match(String(warnings[0]), /write key/);
    });

    test('debug logs what is queued, sent and why something is not', async () => {
      const quiet = setup(build);
      quiet.cx.track('A');
      await quiet.clock.advance(2000);
      assert.equal(quiet.logs.length, 0);
      const loud = setup(build, { options: { debug: true } });
      loud.cx.track('A');
      await loud.clock.advance(0);
      loud.cx.track('');
      loud.cx.optOut();
      loud.cx.track('B');
      const text = loud.logs.map((l) => l.map(String).join(' ')).join('\n');
      assert.match(text, /queued/);
      assert.match(text, /track: no name/);
      assert.match(text, /dropped track opted out/);
    });

    test('flush() resolves once the waiting events are delivered', async () => {
      const { cx, network } = setup(build);
      cx.track('A');
      const result = cx.flush();
      assert.equal(typeof result.then, 'function');
      await result;
      assert.equal(network.events().length, 1);
    });

    test('the API exposes exactly the documented methods', () => {
      const { cx } = setup(build);
      const names = Object.keys(cx).filter((k) => typeof cx[k] === 'function' && k.length > 2 && !k.startsWith('_')).sort();
      assert.deepEqual(names, ['consent', 'feature', 'flush', 'group', 'identify', 'init', 'optIn', 'optOut', 'page', 'ready', 'reset', 'survey', 'track', 'user']);
      assert.equal(cx.version, '0.1.0');
    });
  });
}

for (const build of builds) {
  test(`init and the calls do not touch localStorage; an idle moment does (${build.name})`, async () => {
    const win = fakeWindow();
    let reads = 0;
    const storage = win.localStorage;
    Object.defineProperty(win, 'localStorage', { get() { reads++; return storage; } });
    storage.setItem('cxloop.uid', 'stored-user');
    const cx = build.load(win);
    cx.init(WRITE_KEY, { host: HOST });
    cx.track('before identify');
    cx.identify('new-user');
    cx.track('after identify');
    assert.equal(reads, 0);
    await win._test.clock.advance(2000);
    assert.ok(reads > 0);
    const events = win._test.network.events();
    assert.deepEqual(events.map((e) => [e.type, e.userId]), [['track', 'stored-user'], ['identify', 'new-user'], ['track', 'new-user'], ['page', 'new-user']]);
    assert.equal(storage.getItem('cxloop.uid'), 'new-user');
  });
}
