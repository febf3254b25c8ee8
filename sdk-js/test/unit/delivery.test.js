// Batching, retries, the outbox, beacons and several tabs, on the source and the minified build.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { builds } from '../helpers/builds.js';
import { Clock, FakeNetwork, FakeStorage, closeTab } from '../helpers/fake-browser.js';
import { outboxKeys, setup } from '../helpers/setup.js';

/** The names of the events delivered, in order. */
const names = (/** @type {FakeNetwork} */ network) => network.events().map((e) => e.event);

for (const build of builds) {
  describe(`batching (${build.name})`, () => {
    test('20 waiting events go out at once; fewer wait for the 2 s interval', async () => {
      const { cx, clock, network } = setup(build);
      for (let i = 0; i < 19; i++) cx.track('e' + i);
      await clock.advance(1999);
      assert.equal(network.requests.length, 0);
      cx.track('e19');
      await clock.advance(0);
      assert.equal(network.requests.length, 1);
      assert.equal(network.requests[0].body.batch.length, 20);
      cx.track('late');
      await clock.advance(1999);
      assert.equal(network.requests.length, 1);
      await clock.advance(1);
      assert.deepEqual(network.requests.map((r) => r.body.batch.length), [20, 1]);
    });

    test('a burst goes out at once in as few requests as fit under 60 KB, in order, each event once', async () => {
      const { cx, clock, network } = setup(build);
      for (let i = 0; i < 45; i++) cx.track('e' + i);
      await clock.advance(0);
      assert.deepEqual(network.requests.map((r) => r.body.batch.length), [45]);
      for (let i = 45; i < 300; i++) cx.track('e' + i, { plan: 'pro', seats: 25, path: '/reports/weekly' });
      await clock.advance(0);
      assert.ok(network.requests.length >= 4 && network.requests.length < 10, `${network.requests.length} requests`);
      for (const r of network.requests) assert.ok(Buffer.byteLength(r.raw) < 60000);
      assert.deepEqual(names(network), Array.from({ length: 300 }, (_, i) => 'e' + i));
    });

    test('flushAt and flushInterval are options', async () => {
      const { cx, clock, network } = setup(build, { options: { flushAt: 3, flushInterval: 500 } });
      cx.track('a');
      await clock.advance(500);
      assert.equal(network.requests.length, 1);
      cx.track('b'); cx.track('c'); cx.track('d');
      await clock.advance(0);
      assert.equal(network.requests.length, 2);
    });

    test('requests stay under 60 KB: large events are split across requests', async () => {
      const { cx, clock, network } = setup(build);
      for (let i = 0; i < 12; i++) cx.track('big' + i, { blob: 'é'.repeat(5000) }); // ~10 KB of UTF-8 each
      await clock.advance(2000);
      assert.ok(network.requests.length >= 3);
      for (const r of network.requests) assert.ok(Buffer.byteLength(r.raw) < 60000, `request of ${Buffer.byteLength(r.raw)} bytes`);
      assert.equal(network.events().length, 12);
    });

    test('an event over 32 KB is refused with a warning; the others go', async () => {
      const { cx, clock, network, warnings } = setup(build);
      cx.track('huge', { blob: 'x'.repeat(40000) });
      cx.track('fine');
      await clock.advance(2000);
      assert.deepEqual(names(network), ['fine']);
      assert.match(warnings.map(String).join(), /32 KB/);
    });
  });

  describe(`retries (${build.name})`, () => {
    test('503 with Retry-After: waits as told, then delivers with the same ids and a new sentAt', async () => {
      const { cx, clock, network } = setup(build);
      let calls = 0;
      network.respond = ({ body }) => (++calls === 1
        ? { status: 503, headers: { 'Retry-After': '30' }, body: '{"code":"unavailable","message":"try later"}' }
        : { status: 200, body: JSON.stringify({ accepted: body.batch.length, rejected: [] }) });
      cx.track('a');
      cx.track('b');
      await clock.advance(2000);
      assert.equal(network.requests.length, 1);
      await clock.advance(29000);
      assert.equal(network.requests.length, 1, 'retried before Retry-After elapsed');
      await clock.advance(1100);
      assert.equal(network.requests.length, 2);
      const [first, second] = network.requests;
      assert.deepEqual(second.body.batch.map((/** @type {any} */ e) => e.messageId), first.body.batch.map((/** @type {any} */ e) => e.messageId));
      assert.deepEqual(second.body.batch.map((/** @type {any} */ e) => e.timestamp), first.body.batch.map((/** @type {any} */ e) => e.timestamp));
      assert.notEqual(second.body.sentAt, first.body.sentAt);
      await clock.advance(60000);
      assert.equal(network.requests.length, 2);
    });

    for (const status of [408, 429, 500, 502, 504]) {
      test(`HTTP ${status} is retried`, async () => {
        const { cx, clock, network } = setup(build);
        let calls = 0;
        network.respond = ({ body }) => (++calls === 1 ? { status } : { status: 200, body: JSON.stringify({ accepted: body.batch.length, rejected: [] }) });
        cx.track('a');
        await clock.advance(2000 + 2000);
        assert.equal(network.requests.length, 2);
        assert.deepEqual(names(network), ['a', 'a']);
      });
    }

    for (const status of [400, 401, 403, 404]) {
      test(`HTTP ${status} is not retried and is reported`, async () => {
        const { cx, clock, network, warnings, storage } = setup(build);
        network.respond = () => ({ status, body: '{"code":"invalid_write_key","message":"Unknown write key: check the snippet"}' });
        cx.track('a');
        await clock.advance(2000 + 600000);
        assert.equal(network.requests.length, 1);
        assert.match(warnings.map((w) => w.map((x) => JSON.stringify(x)).join(' ')).join(), new RegExp(String(status)));
        assert.deepEqual(outboxKeys(storage), []);
      });
    }

    test('413: the batch is resent in halves', async () => {
      const { cx, clock, network } = setup(build);
      network.respond = ({ body }) => (body.batch.length > 10 ? { status: 413 } : { status: 200, body: '{"accepted":1,"rejected":[]}' });
      for (let i = 0; i < 20; i++) cx.track('e' + i);
      await clock.advance(0);
      assert.deepEqual(network.requests.map((r) => r.body.batch.length), [20, 10, 10]);
      assert.equal(new Set(names(network).slice(1)).size, 20);
    });

    test('network errors back off exponentially with jitter, keeping every event', async () => {
      const { cx, clock, network } = setup(build);
      /** @type {number[]} */
      const attempts = [];
      network.respond = () => {
        attempts.push(clock.now);
        return attempts.length < 6 ? 'network-error' : { status: 200, body: '{}' };
      };
      cx.track('a');
      await clock.advance(2000 + 60000);
      assert.equal(attempts.length, 6);
      const gaps = attempts.slice(1).map((t, i) => t - attempts[i]);
      gaps.forEach((gap, i) => {
        const ceiling = 1000 * 2 ** i;
        assert.ok(gap >= ceiling / 2 && gap <= ceiling + 1, `gap ${i + 1} was ${gap} ms`);
      });
      assert.deepEqual(names(network), ['a']);
    });

    test('a 200 listing rejected events removes the batch (the server keeps them as failed)', async () => {
      const { cx, clock, network, storage } = setup(build, { options: { debug: true } });
      network.respond = () => ({ status: 200, body: '{"accepted":0,"rejected":[{"index":0,"messageId":"x","reason":"invalid"}]}' });
      cx.track('a');
      await clock.advance(2000 + 600000);
      assert.equal(network.requests.length, 1);
      assert.deepEqual(outboxKeys(storage), []);
    });
  });

  describe(`retry budget: one poisoned event cannot wedge delivery (${build.name})`, () => {
    /**
     * A server that fails every request carrying the event named 'poison' (a 500, a network error,
     * which is what a 500 without CORS looks like, or a 400) and takes every other request.
     * @param {FakeNetwork} network
     * @param {() => ({ status: number } | 'network-error')} failure
     */
    const poisonedServer = (network, failure) => {
      network.respond = ({ body }) => (body.batch.some((/** @type {any} */ e) => e.event === 'poison')
        ? failure()
        : { status: 200, body: JSON.stringify({ accepted: body.batch.length, rejected: [] }) });
    };
    /** Events of the requests the server took. */
    const accepted = (/** @type {FakeNetwork} */ network) => network.requests
      .filter((r) => !r.body.batch.some((/** @type {any} */ e) => e.event === 'poison')).flatMap((r) => r.body.batch);
    const failures = /** @type {[string, () => ({ status: number } | 'network-error')][]} */ ([
      ['HTTP 500', () => ({ status: 500 })],
      ['a network error', () => 'network-error'],
      ['HTTP 400', () => ({ status: 400 })],
    ]);

    for (const [what, failure] of failures) {
      test(`${what} for a batch: the others are delivered once, the poisoned event alone is dropped and reported`, async () => {
        /** @type {any[]} */
        const errors = [];
        const { cx, clock, network, storage, warnings } = setup(build, { options: { onError: (/** @type {any} */ e) => errors.push(e) } });
        poisonedServer(network, failure);
        for (let i = 0; i < 40; i++) cx.track(i === 23 ? 'poison' : 'e' + i);
        await clock.advance(2000 + 120000);
        const delivered = accepted(network).map((e) => e.event);
        assert.deepEqual([...delivered].sort(), Array.from({ length: 40 }, (_, i) => 'e' + i).filter((n) => n !== 'e23').sort());
        assert.equal(new Set(delivered).size, 39, 'each event once');
        assert.ok(network.requests.length + (network.failed || 0) < 60, `${network.requests.length + (network.failed || 0)} requests`);
        assert.equal(errors.length, 1);
        const answer = failure();
        assert.equal(errors[0].status, answer === 'network-error' ? 0 : answer.status);
        assert.equal(errors[0].messageIds.length, 1);
        assert.ok(!accepted(network).some((e) => e.messageId === errors[0].messageIds[0]));
        assert.match(warnings.map((w) => w.map((x) => JSON.stringify(x)).join(' ')).join('\n'), /dropped.*"status":/);
        assert.deepEqual(outboxKeys(storage), [], 'nothing left behind');
      });
    }

    test('a poisoned event alone is kept until another event gets through, then dropped', async () => {
      /** @type {any[]} */
      const errors = [];
      const { cx, clock, network } = setup(build, { options: { onError: (/** @type {any} */ e) => errors.push(e) } });
      poisonedServer(network, () => ({ status: 500 }));
      cx.track('poison');
      await clock.advance(2000 + 3600000);
      assert.ok(network.requests.length >= 4);
      assert.equal(errors.length, 0, 'no proof yet that the server takes other events');
      cx.track('fine');
      await clock.advance(600000);
      assert.deepEqual(accepted(network).map((e) => e.event), ['fine']);
      assert.equal(errors.length, 1);
      assert.equal(errors[0].status, 500);
      const attempts = network.requests.length;
      await clock.advance(3600000);
      assert.equal(network.requests.length, attempts, 'nothing is retried after the drop');
    });

    for (const [what, answer] of /** @type {const} */ ([
      ['network errors', 'network-error'],
      ['HTTP 500', { status: 500 }],
      ['HTTP 503', { status: 503, headers: { 'Retry-After': '5' } }],
    ])) {
      test(`an hour of ${what} for everything drops nothing; all is delivered when the server is back`, async () => {
        /** @type {any[]} */
        const errors = [];
        const { cx, clock, network, warnings } = setup(build, { options: { onError: (/** @type {any} */ e) => errors.push(e) } });
        network.respond = () => answer;
        for (let i = 0; i < 30; i++) cx.track('e' + i);
        await clock.advance(2000 + 3600000);
        assert.deepEqual(errors, []);
        assert.deepEqual(warnings, []);
        if (what === 'HTTP 503') assert.ok(network.requests.every((r) => r.body.batch.length === 30), 'overload: no splitting');
        network.requests.length = 0;
        network.respond = ({ body }) => ({ status: 200, body: JSON.stringify({ accepted: body.batch.length, rejected: [] }) });
        await clock.advance(600000);
        assert.deepEqual(names(network).sort(), Array.from({ length: 30 }, (_, i) => 'e' + i).sort());
        assert.equal(network.requests.length <= 2, true, `${network.requests.length} requests after recovery`);
      });
    }

    test('coming back online is no proof that the server takes events: a lone failing event is kept', async () => {
      /** @type {any[]} */
      const errors = [];
      const { win, cx, clock, network } = setup(build, { options: { onError: (/** @type {any} */ e) => errors.push(e) } });
      network.respond = () => 'network-error';
      cx.track('a');
      await clock.advance(2000 + 60000); // past its budget, alone
      win.navigator.onLine = false;
      win.dispatch('offline');
      await clock.advance(60000);
      win.navigator.onLine = true;
      win.dispatch('online'); // the first attempt fails: the connection is not up yet
      await clock.advance(0);
      assert.deepEqual(errors, []);
      network.respond = () => ({ status: 200, body: '{}' });
      await clock.advance(600000);
      assert.deepEqual(names(network), ['a']);
    });

    test('offline, nothing is attempted, so nothing uses up the budget', async () => {
      const { win, cx, clock, network } = setup(build);
      win.navigator.onLine = false;
      cx.track('a');
      await clock.advance(3600000);
      assert.equal(network.requests.length + (network.failed || 0), 0);
    });
  });

  describe(`outbox (${build.name})`, () => {
    test('events wait in localStorage until the server has answered 200', async () => {
      const { cx, clock, network, storage } = setup(build);
      network.respond = () => 'network-error';
      cx.track('a');
      await clock.advance(0);
      const [queueKey] = outboxKeys(storage).filter((k) => k.includes('.q.'));
      assert.deepEqual(JSON.parse(/** @type {string} */ (storage.getItem(queueKey))).map((/** @type {any} */ e) => e.event), ['a']);
      network.respond = () => ({ status: 200, body: '{}' });
      await clock.advance(10000);
      assert.deepEqual(outboxKeys(storage), []);
    });

    test('offline: nothing is attempted; back online, everything is delivered once', async () => {
      const { win, cx, clock, network } = setup(build);
      win.navigator.onLine = false;
      for (let i = 0; i < 30; i++) cx.track('e' + i);
      await clock.advance(60000);
      assert.equal(network.requests.length, 0);
      win.navigator.onLine = true;
      win.dispatch('online');
      await clock.advance(0);
      assert.deepEqual(names(network), Array.from({ length: 30 }, (_, i) => 'e' + i));
    });

    test('a network failure is retried at once when the browser comes back online', async () => {
      const { win, cx, clock, network } = setup(build);
      network.respond = () => 'network-error';
      for (let i = 0; i < 5; i++) cx.track('e' + i);
      await clock.advance(2000 + 20000); // a few failed attempts; the backoff is now long
      network.respond = () => ({ status: 200, body: '{}' });
      win.dispatch('online');
      await clock.advance(0);
      // The failures split the batch (see 'retry budget'): the first 200 restores full batches.
      assert.ok(network.requests.length <= 2, `${network.requests.length} requests`);
      assert.deepEqual(names(network).sort(), ['e0', 'e1', 'e2', 'e3', 'e4']);
    });

    test('events left by a reload are delivered by the next page, once', async () => {
      const clock = new Clock();
      const storage = new FakeStorage();
      const network = new FakeNetwork();
      const first = setup(build, { window: { clock, storage, network } });
      first.win.navigator.onLine = false;
      for (let i = 0; i < 5; i++) first.cx.track('e' + i);
      await clock.advance(100);
      closeTab(first.win);
      assert.equal(network.requests.length, 0, 'no beacon while offline');
      clock.timers.clear(); // the page is gone
      const second = setup(build, { window: { clock, storage, network } });
      await clock.advance(5000);
      assert.deepEqual(names(network), ['e0', 'e1', 'e2', 'e3', 'e4']);
      await clock.advance(60000);
      assert.equal(network.events().length, 5);
      assert.deepEqual(outboxKeys(storage), []);
      assert.ok(second.cx);
    });

    test('events older than 7 days are dropped when they finally could be sent', async () => {
      const { win, cx, clock, network } = setup(build);
      win.navigator.onLine = false;
      cx.track('stale');
      await clock.advance(8 * 864e5);
      cx.track('fresh');
      win.navigator.onLine = true;
      win.dispatch('online');
      await clock.advance(0);
      assert.deepEqual(names(network), ['fresh']);
    });

    test('the outbox is capped: the oldest events give way', async () => {
      const { win, cx, clock, network } = setup(build, { options: { maxQueueEvents: 10 } });
      win.navigator.onLine = false;
      for (let i = 0; i < 25; i++) cx.track('e' + i);
      win.navigator.onLine = true;
      win.dispatch('online');
      await clock.advance(0);
      assert.deepEqual(names(network), Array.from({ length: 10 }, (_, i) => 'e' + (15 + i)));
    });

    test('a full localStorage does not stop delivery', async () => {
      const storage = new FakeStorage(300);
      const { cx, clock, network } = setup(build, { window: { storage }, options: { debug: true } });
      for (let i = 0; i < 25; i++) cx.track('e' + i, { pad: 'x'.repeat(100) });
      await clock.advance(2000);
      assert.equal(network.events().length, 25);
    });

    test('localStorage that throws (blocked cookies) falls back to memory', async () => {
      const storage = new FakeStorage();
      storage.throwOnAccess = true;
      const { cx, clock, network } = setup(build, { window: { storage } });
      cx.identify('u');
      cx.track('a');
      await clock.advance(2000);
      assert.deepEqual(names(network), [undefined, 'a']);
    });
  });

  describe(`beacons (${build.name})`, () => {
    test('closing the tab hands the waiting events to sendBeacon', async () => {
      const { win, cx, clock, network, storage } = setup(build);
      for (let i = 0; i < 15; i++) cx.track('e' + i);
      await clock.advance(100);
      closeTab(win);
      assert.equal(network.requests.length, 1);
      assert.equal(network.requests[0].via, 'beacon');
      assert.equal(network.requests[0].body.batch.length, 15);
      assert.deepEqual(outboxKeys(storage), []);
    });

    test('the tab going hidden sends too; nothing is sent twice', async () => {
      const { win, cx, clock, network } = setup(build);
      cx.track('a');
      win.document.visibilityState = 'hidden';
      win.dispatch('visibilitychange');
      win.dispatch('pagehide', { persisted: true });
      await clock.advance(10000);
      assert.deepEqual(names(network), ['a']);
    });

    test('a refused beacon keeps the events in the outbox for the next page', async () => {
      const clock = new Clock();
      const storage = new FakeStorage();
      const network = new FakeNetwork();
      const first = setup(build, { window: { clock, storage, network } });
      network.beaconResult = false;
      first.cx.track('kept');
      await clock.advance(100);
      closeTab(first.win);
      assert.equal(network.requests.length, 0);
      assert.ok(outboxKeys(storage).length > 0);
      clock.timers.clear();
      network.beaconResult = true;
      setup(build, { window: { clock, storage, network } });
      await clock.advance(5000);
      assert.deepEqual(names(network), ['kept']);
    });

    test('a full queue is split into beacons under 60 KB each', async () => {
      const { win, cx, clock, network } = setup(build, { options: { flushAt: 1000, flushInterval: 60000 } });
      for (let i = 0; i < 40; i++) cx.track('e' + i, { pad: 'x'.repeat(3000) });
      await clock.advance(100);
      closeTab(win);
      assert.ok(network.requests.length >= 2);
      for (const r of network.requests) assert.ok(r.raw.length < 60000);
      assert.equal(network.events().length, 40);
    });
  });

  describe(`several tabs (${build.name})`, () => {
    test('two tabs deliver their own events, none twice', async () => {
      const clock = new Clock();
      const storage = new FakeStorage();
      const network = new FakeNetwork();
      const a = setup(build, { window: { clock, storage, network } });
      const b = setup(build, { window: { clock, storage, network } });
      network.respond = () => 'network-error';
      for (let i = 0; i < 10; i++) {
        a.cx.track('a' + i);
        b.cx.track('b' + i);
      }
      await clock.advance(2000 + 30000);
      network.requests.length = 0;
      network.respond = ({ body }) => ({ status: 200, body: JSON.stringify({ accepted: body.batch.length, rejected: [] }) });
      await clock.advance(600000);
      const delivered = names(network);
      assert.equal(delivered.length, 20);
      assert.equal(new Set(delivered).size, 20);
    });

    test('a tab closed with undelivered events is adopted by another tab', async () => {
      const clock = new Clock();
      const storage = new FakeStorage();
      const network = new FakeNetwork();
      const a = setup(build, { window: { clock, storage, network } });
      const b = setup(build, { window: { clock, storage, network } });
      a.win.navigator.onLine = false;
      a.cx.track('from-a');
      await clock.advance(100);
      closeTab(a.win);
      clock.timers.forEach((t, id) => { if (t.every && id < 0) clock.timers.delete(id); });
      await clock.advance(10000);
      assert.deepEqual(names(network), ['from-a']);
      await clock.advance(600000);
      assert.deepEqual(names(network), ['from-a']);
      assert.ok(b.cx);
    });
  });
}
