// The SDK never throws into the host page and survives what host pages do to globals.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { builds } from '../helpers/builds.js';
import { setup } from '../helpers/setup.js';

for (const build of builds) {
  describe(`never breaks the host page (${build.name})`, () => {
    test('odd arguments and unserialisable properties never throw', async () => {
      const { cx, clock, network } = setup(build);
      /** @type {any} */
      const circular = { a: 1 };
      circular.self = circular;
      const calls = [
        () => cx.track(circular),
        () => cx.track('circular', circular),
        () => cx.track('bigint', { n: 10n }),
        () => cx.track(),
        () => cx.track(null, 5),
        () => cx.identify(),
        () => cx.identify(undefined, 'traits?'),
        () => cx.group(),
        () => cx.group({}),
        () => cx.page(42),
        () => cx.feature(),
        () => cx.consent('maybe'),
        () => cx.ready('not a function'),
        () => cx.init({ not: 'a key' }),
      ];
      for (const call of calls) assert.doesNotThrow(call);
      cx.track('still works', { when: new Date(0) });
      await clock.advance(2000);
      const last = network.events().at(-1);
      assert.equal(last.event, 'still works');
      assert.equal(last.properties.when, '1970-01-01T00:00:00.000Z');
    });

    test('methods called before init never throw', () => {
      const { cx } = setup(build, { init: false });
      for (const name of ['identify', 'group', 'track', 'page', 'feature', 'reset', 'optOut', 'optIn', 'consent', 'flush', 'user']) {
        assert.doesNotThrow(() => cx[name]('x'));
      }
    });

    test('a host page replacing fetch and JSON after load does not affect delivery', async () => {
      const { win, cx, clock, network } = setup(build);
      win.fetch = () => { throw new Error('host page broke fetch'); };
      win.JSON = { stringify: () => '"nope"', parse: () => { throw new Error('nope'); } };
      win.navigator.sendBeacon = () => { throw new Error('host page broke sendBeacon'); };
      win.localStorage.setItem = () => { throw new Error('host wrapped setItem'); };
      cx.track('a', { nested: { ok: true } });
      await clock.advance(2000);
      assert.deepEqual(network.events().map((e) => e.properties), [{ nested: { ok: true } }]);
    });

    test('storage failing mid-session (revoked, full) never throws', async () => {
      const { cx, clock, network, storage } = setup(build);
      cx.track('before');
      storage.throwOnAccess = true;
      assert.doesNotThrow(() => {
        cx.track('during');
        cx.identify('u');
        cx.reset();
        cx.optOut();
      });
      storage.throwOnAccess = false;
      await clock.advance(2000);
      assert.ok(network.events().length <= 2);
    });

    test('a vendor ready callback that throws does not stop others', () => {
      const { cx } = setup(build);
      let ran = 0;
      cx.ready(() => { throw new Error('x'); });
      cx.ready(() => ran++);
      assert.equal(ran, 1);
    });

    test('the page\'s own history calls behave as before, exceptions included', () => {
      const { win } = setup(build, { options: { autoPage: true } });
      const result = win.history.pushState({ a: 1 }, '', '/next');
      assert.equal(result, undefined);
      assert.equal(win.location.pathname, '/next');
      win.history.replaceState = win.history.replaceState; // still callable as a method
      const original = win.history.pushState;
      assert.equal(typeof original, 'function');
    });
  });
}
