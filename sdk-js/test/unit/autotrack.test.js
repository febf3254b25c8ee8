// Automatic page views in single-page apps, on the source and the minified build.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { routeKey } from '../../src/autotrack.js';
import { builds } from '../helpers/builds.js';
import { fakeWindow } from '../helpers/fake-browser.js';
import { HOST, WRITE_KEY, setup } from '../helpers/setup.js';

const pages = (/** @type {any} */ network) => network.events().filter((/** @type {any} */ e) => e.type === 'page').map((/** @type {any} */ e) => e.properties.path + e.properties.search + (e.properties.url.includes('#/') ? new URL(e.properties.url).hash : ''));

describe('routeKey', () => {
  const table = [
    [{ pathname: '/a', search: '', hash: '' }, '/a'],
    [{ pathname: '/a', search: '?x=1', hash: '#section' }, '/a?x=1'],
    [{ pathname: '/', search: '', hash: '#/settings' }, '/#/settings'],
    [{ pathname: '/', search: '', hash: '#!/inbox' }, '/#!/inbox'],
  ];
  for (const [location, key] of table) test(JSON.stringify(location), () => assert.equal(routeKey(/** @type {any} */ (location)), key));
});

for (const build of builds) {
  describe(`automatic page views (${build.name})`, () => {
    const auto = () => setup(build, { options: { autoPage: true } });

    test('one page view on load, carrying ids set right after init', async () => {
      const win = fakeWindow();
      win.cxloop = [
        ['init', [WRITE_KEY, { host: HOST }], win._test.clock.now],
        ['identify', ['u-1'], win._test.clock.now],
        ['group', ['acct-1'], win._test.clock.now],
      ];
      build.load(win);
      await win._test.clock.advance(2000);
      const page = win._test.network.events().find((/** @type {any} */ e) => e.type === 'page');
      assert.equal(page.userId, 'u-1');
      assert.equal(page.context.groupId, 'acct-1');
      assert.equal(win._test.network.events().filter((/** @type {any} */ e) => e.type === 'page').length, 1);
    });

    test('pushState, replaceState, popstate and hash routes each make one page view', async () => {
      const { win, clock, network } = auto();
      await clock.advance(100);
      win.history.pushState({}, '', '/projects');
      await clock.advance(100);
      win.history.pushState({}, '', '/projects'); // same URL: no new page view
      await clock.advance(100);
      win.history.replaceState({}, '', '/projects?sort=name'); // query changed
      await clock.advance(100);
      win._test.setUrl('/projects?sort=name#details'); // in-page anchor: not a page view
      win.dispatch('hashchange');
      await clock.advance(100);
      win._test.setUrl('/#/settings'); // hash route
      win.dispatch('hashchange');
      await clock.advance(100);
      win._test.setUrl('/projects?sort=name');
      win.dispatch('popstate');
      await clock.advance(2000);
      assert.deepEqual(pages(network), ['/dashboard?tab=1', '/projects', '/projects?sort=name', '/#/settings', '/projects?sort=name']);
    });

    test('a push followed at once by a replace (redirect) is one page view, with the final URL and title', async () => {
      const { win, clock, network } = auto();
      await clock.advance(100);
      win.history.pushState({}, '', '/login');
      win.history.replaceState({}, '', '/home');
      win.document.title = 'Home';
      await clock.advance(2000);
      const events = network.events().filter((/** @type {any} */ e) => e.type === 'page');
      assert.deepEqual(pages(network), ['/dashboard?tab=1', '/home']);
      assert.equal(events[1].properties.title, 'Home');
      assert.equal(events[1].properties.referrer, 'https://app.example.com/dashboard?tab=1');
      assert.equal(events[1].context.page.referrer, 'https://app.example.com/dashboard?tab=1');
    });

    test('a manual page() for the new route is not doubled by the automatic one', async () => {
      const { win, cx, clock, network } = auto();
      await clock.advance(100);
      win.history.pushState({}, '', '/reports');
      cx.page('Reports');
      await clock.advance(2000);
      assert.deepEqual(pages(network), ['/dashboard?tab=1', '/reports']);
    });

    test('a page view still pending when the tab closes is sent with the beacon', async () => {
      const { win, clock, network } = auto();
      await clock.advance(2500);
      win.history.pushState({}, '', '/last');
      win.document.visibilityState = 'hidden';
      win.dispatch('visibilitychange');
      assert.deepEqual(pages(network), ['/dashboard?tab=1', '/last']);
    });

    test('autoPage: false turns it off', async () => {
      const { win, clock, network } = setup(build, { options: { autoPage: false } });
      win.history.pushState({}, '', '/elsewhere');
      await clock.advance(5000);
      assert.deepEqual(pages(network), []);
    });
  });
}

for (const build of builds) {
  test(`navigation in the same task as init keeps the first page view (${build.name})`, async () => {
    const win = fakeWindow({ url: 'https://app.example.com/start' });
    const cx = build.load(win);
    cx.init(WRITE_KEY, { host: HOST });
    cx.identify('u-1');
    win.history.pushState({}, '', '/next');
    await win._test.clock.advance(2000);
    assert.deepEqual(pages(win._test.network), ['/start', '/next']);
    assert.equal(win._test.network.events()[0].type, 'identify');
  });
}
