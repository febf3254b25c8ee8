import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { captureEnv } from '../../src/env.js';
import { CLAIM_WAIT_MS, HEARTBEAT_MS, STALE_MS, TTL_MS, createOutbox } from '../../src/outbox.js';
import { createStore } from '../../src/storage.js';
import { utf8Length, uuid } from '../../src/payload.js';
import { Clock, FakeStorage, fakeWindow } from '../helpers/fake-browser.js';

const PREFIX = 'cxloop.wk.';

/**
 * One tab's outbox over a shared localStorage and clock.
 * @param {{ storage?: FakeStorage, clock?: Clock, maxEvents?: number, maxBytes?: number }} [o]
 */
function tab(o = {}) {
  const clock = o.clock || new Clock();
  const storage = o.storage || new FakeStorage();
  const env = captureEnv(fakeWindow({ clock, storage }));
  const store = createStore(env._ls, true);
  let adopted = 0;
  const logs = [];
  const outbox = createOutbox(env, store, PREFIX, o.maxEvents ?? 500, o.maxBytes ?? 256000, (...a) => logs.push(a.join(' ')), () => adopted++);
  /** @param {string} name */
  const add = (name, time = clock.now) => {
    const event = { type: 'track', event: name, messageId: uuid(crypto.getRandomValues(new Uint8Array(16))), timestamp: new Date(time).toISOString() };
    const json = JSON.stringify(event);
    outbox._add({ _id: event.messageId, _json: json, _bytes: utf8Length(json), _time: time });
    outbox._save();
    return event;
  };
  const names = (/** @type {import('../../src/outbox.js').Entry[]} */ batch) => batch.map((e) => JSON.parse(e._json).event);
  return { outbox, add, clock, storage, names, logs, adoptedCount: () => adopted };
}

/** Events stored in every partition, by name. */
function stored(/** @type {FakeStorage} */ storage) {
  return [...storage.map].filter(([k]) => k.startsWith(PREFIX + 'q.')).flatMap(([, v]) => JSON.parse(v).map((/** @type {any} */ e) => e.event));
}

describe('outbox', () => {
  test('saves any number of added events in one write', async () => {
    let writes = 0;
    const storage = new (class extends FakeStorage {
      /** @param {string} k @param {string} v */
      setItem(k, v) {
        writes++;
        super.setItem(k, v);
      }
    })();
    const t = tab({ storage });
    for (let i = 0; i < 50; i++) t.outbox._add({ _id: 'id' + i, _json: JSON.stringify({ event: 'e' + i, messageId: 'id' + i }), _bytes: 30, _time: t.clock.now });
    assert.equal(stored(t.storage).length, 0);
    t.outbox._save();
    assert.equal(stored(t.storage).length, 50);
    assert.equal(writes, 2); // the heartbeat, then the events
  });

  test('take marks entries as sending; done removes delivered ones and releases the rest', async () => {
    const t = tab();
    for (const n of ['a', 'b', 'c', 'd']) t.add(n);
    const first = t.outbox._take(2, 60000);
    assert.deepEqual(t.names(first), ['a', 'b']);
    assert.deepEqual(t.names(t.outbox._take(10, 60000)), ['c', 'd']);
    assert.equal(t.outbox._take(10, 60000).length, 0);
    t.outbox._done(first, false);
    assert.equal(t.outbox._size(), 4);
    t.outbox._done(t.outbox._take(10, 60000), true);
    await Promise.resolve();
    assert.deepEqual(stored(t.storage), ['c', 'd']);
  });

  test('take respects the byte budget but always takes at least one event', () => {
    const t = tab();
    for (let i = 0; i < 10; i++) t.add('x'.repeat(1000));
    assert.equal(t.outbox._take(100, 3500).length, 3);
    assert.equal(t.outbox._take(100, 10).length, 1);
  });

  test('an emptied outbox leaves nothing in localStorage', async () => {
    const t = tab();
    t.add('a');
    await Promise.resolve();
    assert.ok(t.storage.length > 0);
    t.outbox._done(t.outbox._take(10, 60000), true);
    await Promise.resolve();
    assert.equal(t.storage.length, 0);
  });

  test('is capped by count, dropping the oldest', () => {
    const t = tab({ maxEvents: 3 });
    for (const n of ['a', 'b', 'c', 'd', 'e']) t.add(n);
    assert.deepEqual(t.names(t.outbox._take(10, 1e6)), ['c', 'd', 'e']);
    assert.ok(t.logs.some((l) => l.includes('outbox full')));
  });

  test('is capped by bytes, dropping the oldest', () => {
    const t = tab({ maxBytes: 1000 });
    for (let i = 0; i < 10; i++) t.add(i + 'x'.repeat(200));
    const kept = t.outbox._take(100, 1e6);
    assert.ok(kept.reduce((n, e) => n + e._bytes, 0) <= 1000);
    assert.equal(kept.length, 3);
    assert.ok(t.names(kept)[2].startsWith('9'));
  });

  test('never drops an entry that is being sent to honour a cap', () => {
    const t = tab({ maxEvents: 2 });
    t.add('a');
    t.add('b');
    const sending = t.outbox._take(2, 1e6);
    t.add('c');
    t.outbox._done(sending, false);
    assert.deepEqual(t.names(t.outbox._take(10, 1e6)), ['a', 'b']);
  });

  test('drops events older than 7 days', () => {
    const t = tab();
    t.add('old', t.clock.now - TTL_MS - 1);
    t.add('fresh', t.clock.now - TTL_MS + 60000);
    assert.deepEqual(t.names(t.outbox._take(10, 1e6)), ['fresh']);
    assert.ok(t.logs.some((l) => l.includes('expired')));
  });

  test('a quota error keeps events in memory and does not throw', async () => {
    const t = tab({ storage: new FakeStorage(400) });
    for (let i = 0; i < 10; i++) t.add('e' + i);
    await Promise.resolve();
    assert.equal(t.outbox._save(), false);
    assert.ok(t.logs.some((l) => l.includes('storage full')));
    assert.equal(t.outbox._take(100, 1e6).length, 10);
  });
});

describe('outbox with several tabs', () => {
  test('tabs write separate partitions and never take each other\'s events', async () => {
    const storage = new FakeStorage();
    const clock = new Clock();
    const a = tab({ storage, clock });
    const b = tab({ storage, clock });
    a.add('from-a');
    b.add('from-b');
    await clock.advance(HEARTBEAT_MS * 3);
    assert.deepEqual(a.names(a.outbox._take(10, 1e6)), ['from-a']);
    assert.deepEqual(b.names(b.outbox._take(10, 1e6)), ['from-b']);
    assert.deepEqual(stored(storage).sort(), ['from-a', 'from-b']);
  });

  test('a closed tab\'s events are adopted once by a live tab', async () => {
    const storage = new FakeStorage();
    const clock = new Clock();
    const closed = tab({ storage, clock });
    closed.add('left-behind');
    await clock.advance(0);
    closed.outbox._close();
    const live = tab({ storage, clock });
    await clock.advance(HEARTBEAT_MS + CLAIM_WAIT_MS);
    assert.deepEqual(live.names(live.outbox._take(10, 1e6)), ['left-behind']);
    assert.equal(live.adoptedCount(), 1);
    assert.deepEqual(stored(storage), ['left-behind']); // now in the live tab's partition only
    assert.equal([...storage.map.keys()].filter((k) => k.startsWith(PREFIX)).length, 2);
  });

  test('a crashed tab (stale heartbeat) is adopted; a slow but live one is not', async () => {
    const storage = new FakeStorage();
    const clock = new Clock();
    const crashed = tab({ storage, clock });
    crashed.add('orphan');
    await clock.advance(0);
    // The crashed tab's timers never run again: take its heartbeat interval away.
    crashed.clock.timers.clear();
    const live = tab({ storage, clock });
    await clock.advance(STALE_MS - HEARTBEAT_MS);
    assert.equal(live.outbox._take(10, 1e6).length, 0, 'adopted before the heartbeat went stale');
    await clock.advance(2 * HEARTBEAT_MS + CLAIM_WAIT_MS);
    assert.deepEqual(live.names(live.outbox._take(10, 1e6)), ['orphan']);
  });

  test('two tabs racing for the same orphan: exactly one adopts it', async () => {
    const storage = new FakeStorage();
    const clock = new Clock();
    const closed = tab({ storage, clock });
    closed.add('x');
    closed.add('y');
    await clock.advance(0);
    closed.outbox._close();
    const a = tab({ storage, clock });
    const b = tab({ storage, clock });
    a.outbox._tick();
    b.outbox._tick(); // sees a's fresh claim and stays away
    await clock.advance(CLAIM_WAIT_MS + 5 * HEARTBEAT_MS);
    const takenA = a.names(a.outbox._take(10, 1e6));
    const takenB = b.names(b.outbox._take(10, 1e6));
    assert.deepEqual([...takenA, ...takenB].sort(), ['x', 'y']);
    assert.ok(takenA.length === 0 || takenB.length === 0);
  });

  test('a claim overwritten by another tab before it settles is abandoned', async () => {
    const storage = new FakeStorage();
    const clock = new Clock();
    const closed = tab({ storage, clock });
    closed.add('x');
    await clock.advance(0);
    closed.outbox._close();
    const a = tab({ storage, clock });
    a.outbox._tick();
    // Another tab's claim lands after a's (the storage event reached it late).
    const heartbeat = [...storage.map.keys()].find((k) => k.startsWith(PREFIX + 'h.') && storage.getItem(k)?.includes('@'));
    storage.setItem(/** @type {string} */ (heartbeat), clock.now + '@othertab');
    await clock.advance(CLAIM_WAIT_MS);
    assert.equal(a.outbox._take(10, 1e6).length, 0);
    assert.deepEqual(stored(storage), ['x']);
  });

  test('an abandoned claim (the claiming tab died) is taken over', async () => {
    const storage = new FakeStorage();
    const clock = new Clock();
    storage.setItem(PREFIX + 'q.dead', JSON.stringify([{ type: 'track', event: 'z', messageId: 'm-1', timestamp: new Date(clock.now).toISOString() }]));
    storage.setItem(PREFIX + 'h.dead', clock.now + '@alsodead');
    const live = tab({ storage, clock });
    await clock.advance(HEARTBEAT_MS + CLAIM_WAIT_MS);
    assert.equal(live.outbox._take(10, 1e6).length, 0, 'a fresh claim is respected');
    await clock.advance(10000 + HEARTBEAT_MS);
    assert.deepEqual(live.names(live.outbox._take(10, 1e6)), ['z']);
  });

  test('a tab that was frozen and lost its partition keeps every event in a new one', async () => {
    const storage = new FakeStorage();
    const clock = new Clock();
    const frozen = tab({ storage, clock });
    frozen.add('before-freeze');
    await clock.advance(0);
    const frozenTimers = new Map(frozen.clock.timers);
    frozen.clock.timers.clear();
    const other = tab({ storage, clock });
    await clock.advance(STALE_MS + 2 * HEARTBEAT_MS);
    assert.deepEqual(other.names(other.outbox._take(10, 1e6)), ['before-freeze']);
    // The frozen tab wakes up and captures more.
    for (const [id, t] of frozenTimers) clock.timers.set(id, t);
    frozen.add('after-freeze');
    await Promise.resolve();
    assert.deepEqual(stored(storage).sort(), ['after-freeze', 'before-freeze', 'before-freeze']);
    assert.deepEqual(frozen.names(frozen.outbox._take(10, 1e6)), ['before-freeze', 'after-freeze']);
  });

  test('a corrupt partition is cleaned up without throwing', async () => {
    const storage = new FakeStorage();
    const clock = new Clock();
    storage.setItem(PREFIX + 'q.bad', '{not json');
    storage.setItem(PREFIX + 'h.bad', '0');
    const live = tab({ storage, clock });
    await clock.advance(HEARTBEAT_MS + CLAIM_WAIT_MS);
    assert.equal(storage.getItem(PREFIX + 'q.bad'), null);
    assert.equal(live.outbox._take(10, 1e6).length, 0);
  });

  test('duplicate events across partitions are adopted once', async () => {
    const storage = new FakeStorage();
    const clock = new Clock();
    const live = tab({ storage, clock });
    const event = live.add('dup');
    await clock.advance(0);
    storage.setItem(PREFIX + 'q.old', JSON.stringify([event]));
    storage.setItem(PREFIX + 'h.old', '0');
    await clock.advance(HEARTBEAT_MS + CLAIM_WAIT_MS);
    assert.deepEqual(live.names(live.outbox._take(10, 1e6)), ['dup']);
  });
});

test('after the page went away, the tab neither writes nor sends its partition (another tab may adopt it)', async () => {
  const storage = new FakeStorage();
  const clock = new Clock();
  const closing = tab({ storage, clock });
  closing.add('x');
  closing.outbox._close();
  const live = tab({ storage, clock });
  await clock.advance(HEARTBEAT_MS + CLAIM_WAIT_MS);
  assert.deepEqual(live.names(live.outbox._take(10, 1e6)), ['x']);
  // A late visibilitychange in the closing page: it must not write the events back.
  closing.add('late');
  assert.equal(closing.outbox._take(10, 1e6).length, 0);
  assert.deepEqual(stored(storage), ['x']);
});
