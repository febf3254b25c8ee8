import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { captureEnv } from '../../src/env.js';
import { createStore } from '../../src/storage.js';
import { FakeStorage, fakeWindow } from '../helpers/fake-browser.js';

const raw = (/** @type {FakeStorage} */ storage) => captureEnv(fakeWindow({ storage }))._ls;

describe('store', () => {
  test('writes through to localStorage when persistent', () => {
    const ls = new FakeStorage();
    const store = createStore(raw(ls), true);
    assert.equal(store._set('cxloop.a', '1'), true);
    assert.equal(ls.getItem('cxloop.a'), '1');
    assert.deepEqual(store._keys('cxloop.'), ['cxloop.a']);
    store._del('cxloop.a');
    assert.equal(ls.getItem('cxloop.a'), null);
  });

  test('keeps writes in memory while not persistent, and moves them when switched on', () => {
    const ls = new FakeStorage();
    const store = createStore(raw(ls), false);
    store._set('cxloop.a', '1');
    assert.equal(ls.length, 0);
    assert.equal(store._get('cxloop.a'), '1');
    store._persist(true);
    assert.equal(ls.getItem('cxloop.a'), '1');
  });

  test('a forced write persists even when not persistent (the opt-out flag)', () => {
    const ls = new FakeStorage();
    createStore(raw(ls), false)._set('cxloop.optout', '1', true);
    assert.equal(ls.getItem('cxloop.optout'), '1');
  });

  test('reads fall back to localStorage (ids from an earlier visit)', () => {
    const ls = new FakeStorage();
    ls.setItem('cxloop.aid', 'old');
    assert.equal(createStore(raw(ls), false)._get('cxloop.aid'), 'old');
  });

  test('a quota error keeps the value in memory and reports false; never throws', () => {
    const ls = new FakeStorage(50);
    const store = createStore(raw(ls), true);
    assert.equal(store._set('cxloop.big', 'x'.repeat(100)), false);
    assert.equal(store._get('cxloop.big'), 'x'.repeat(100));
    assert.equal(ls.getItem('cxloop.big'), null);
  });

  test('storage that throws on every access behaves as memory', () => {
    const ls = new FakeStorage();
    const env = captureEnv(fakeWindow({ storage: ls }));
    ls.throwOnAccess = true;
    const store = createStore(env._ls, true);
    assert.equal(store._get('cxloop.a'), null);
    store._set('cxloop.a', '1');
    assert.equal(store._get('cxloop.a'), '1');
    assert.deepEqual(store._keys('cxloop.'), ['cxloop.a']);
    store._del('cxloop.a');
  });

  test('localStorage that cannot even be read at load is treated as absent', () => {
    const win = fakeWindow();
    Object.defineProperty(win, 'localStorage', { get() { throw new Error('SecurityError'); } });
    assert.equal(captureEnv(win)._ls, null);
    const store = createStore(null, true);
    store._set('k', 'v');
    assert.equal(store._get('k'), 'v');
  });
});
