// Consent, opt-out, DNT/GPC, memory-only mode and cookies, on the source and the minified build.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { builds } from '../helpers/builds.js';
import { Clock, FakeNetwork, FakeStorage } from '../helpers/fake-browser.js';
import { setup } from '../helpers/setup.js';

const cxloopKeys = (/** @type {FakeStorage} */ storage) => [...storage.map.keys()].filter((k) => k.startsWith('cxloop'));

for (const build of builds) {
  describe(`consent (${build.name})`, () => {
    test('events are held in memory until consent, then sent; nothing is stored before', async () => {
      const { cx, clock, network, storage } = setup(build, { options: { requireConsent: true } });
      cx.identify('u-1');
      cx.track('a');
      await clock.advance(60000);
      assert.equal(network.requests.length, 0);
      assert.deepEqual(cxloopKeys(storage), []);
      await clock.advance(60000);
      assert.deepEqual(cxloopKeys(storage), [], 'stored before consent');
      cx.consent(true);
      await clock.advance(2000);
      assert.deepEqual(network.events().map((e) => e.type), ['identify', 'track']);
      assert.deepEqual(cxloopKeys(storage).sort(), ['cxloop.aid', 'cxloop.uid']);
      cx.track('b');
      await clock.advance(2000);
      assert.equal(network.events().length, 3);
    });

    test('refused consent drops the held events and everything after', async () => {
      const { cx, clock, network, storage } = setup(build, { options: { requireConsent: true } });
      cx.track('a');
      cx.consent(false);
      cx.track('b');
      await clock.advance(60000);
      assert.equal(network.requests.length, 0);
      assert.deepEqual(cxloopKeys(storage), []);
    });

    test('refusing after an earlier consent removes the stored ids', async () => {
      const { cx, clock, storage } = setup(build, { options: { requireConsent: true } });
      cx.consent(true);
      cx.identify('u');
      await clock.advance(0);
      assert.ok(storage.getItem('cxloop.uid'));
      cx.consent(false);
      assert.deepEqual(cxloopKeys(storage), []);
    });

    test('the consent call may come before init (queued like any call)', async () => {
      const { cx, clock, network } = setup(build, { init: false });
      cx.consent(true);
      cx.track('a');
      cx.init('wk', { host: 'https://cx.example.com', autoPage: false, requireConsent: true });
      await clock.advance(2000);
      assert.equal(network.events().length, 1);
    });
  });

  describe(`opt-out (${build.name})`, () => {
    test('optOut stops capture, empties the outbox and forgets the ids; it persists', async () => {
      const clock = new Clock();
      const storage = new FakeStorage();
      const network = new FakeNetwork();
      const { win, cx } = setup(build, { window: { clock, storage, network } });
      win.navigator.onLine = false;
      cx.identify('u-1');
      cx.track('queued');
      await clock.advance(0);
      cx.optOut();
      cx.track('after');
      win.navigator.onLine = true;
      win.dispatch('online');
      await clock.advance(60000);
      assert.equal(network.requests.length, 0);
      assert.deepEqual(cxloopKeys(storage), ['cxloop.optout']);
      const reload = setup(build, { window: { clock, storage, network } });
      reload.cx.track('next visit');
      await clock.advance(60000);
      assert.equal(network.requests.length, 0);
      assert.deepEqual(cxloopKeys(storage), ['cxloop.optout']);
    });

    test('optIn resumes with a new anonymous id', async () => {
      const { cx, clock, network } = setup(build);
      const before = cx.user().anonymousId;
      cx.optOut();
      cx.optIn();
      cx.track('a');
      await clock.advance(2000);
      assert.equal(network.events().length, 1);
      assert.notEqual(network.events()[0].anonymousId, before);
    });

    test('opting out in one tab stops the other tab\'s pending events', async () => {
      const clock = new Clock();
      const storage = new FakeStorage();
      const network = new FakeNetwork();
      const a = setup(build, { window: { clock, storage, network } });
      const b = setup(build, { window: { clock, storage, network } });
      network.respond = () => 'network-error';
      a.cx.track('pending in a');
      await clock.advance(2500);
      network.requests.length = 0;
      network.respond = () => ({ status: 200, body: '{}' });
      b.cx.optOut();
      await clock.advance(600000);
      assert.equal(network.events().length, 0);
    });
  });

  describe(`privacy signals (${build.name})`, () => {
    for (const [label, navigator] of /** @type {[string, Record<string, unknown>][]} */ ([
      ['Global Privacy Control', { globalPrivacyControl: true }],
      ['Do Not Track', { doNotTrack: '1' }],
    ])) {
      test(`${label} is honoured when respectDoNotTrack is set`, async () => {
        const on = setup(build, { window: { navigator }, options: { respectDoNotTrack: true } });
        on.cx.track('a');
        on.cx.identify('u');
        await on.clock.advance(60000);
        assert.equal(on.network.requests.length, 0);
        assert.deepEqual(cxloopKeys(on.storage), []);
        const off = setup(build, { window: { navigator } });
        off.cx.track('a');
        await off.clock.advance(2000);
        assert.equal(off.network.events().length, 1);
      });
    }
  });

  describe(`storage and cookies (${build.name})`, () => {
    test('persistence "memory" keeps everything out of localStorage', async () => {
      const { cx, clock, network, storage } = setup(build, { options: { persistence: 'memory' } });
      network.respond = () => 'network-error';
      cx.identify('u');
      cx.group('g');
      cx.track('a');
      await clock.advance(5000);
      assert.deepEqual(cxloopKeys(storage), []);
      network.respond = () => ({ status: 200, body: '{}' });
      await clock.advance(60000);
      assert.equal(network.events().length, 3);
    });

    test('no cookie is ever written', async () => {
      const { win, cx, clock } = setup(build, { options: { autoPage: true } });
      cx.identify('u');
      cx.track('a');
      cx.optOut();
      cx.optIn();
      await clock.advance(5000);
      assert.deepEqual(win._test.cookies, []);
    });
  });
}
