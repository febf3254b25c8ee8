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

  test('window.localStorage that throws (storage blocked) behaves as memory', () => {
    const win = fakeWindow();
    Object.defineProperty(win, 'localStorage', { get() { throw new Error('SecurityError'); } });
    const store = createStore(captureEnv(win)._ls, true);
    assert.equal(store._set('cxloop.k', 'v'), false);
    assert.equal(store._get('cxloop.k'), 'v');
    assert.deepEqual(store._keys('cxloop.'), ['cxloop.k']);
  });

  test('no Storage at all (not a browser) behaves as memory', () => {
    const store = createStore(captureEnv({ ...fakeWindow(), Storage: undefined })._ls, true);
    store._set('k', 'v');
    assert.equal(store._get('k'), 'v');
  });

  test('window.localStorage is not read until first used', () => {
    const win = fakeWindow();
    let reads = 0;
    const storage = win.localStorage;
    Object.defineProperty(win, 'localStorage', { get() { reads++; return storage; } });
    const raw = captureEnv(win)._ls;
    assert.equal(reads, 0);
    /** @type {NonNullable<typeof raw>} */ (raw)._get('x');
    /** @type {NonNullable<typeof raw>} */ (raw)._get('y');
    assert.equal(reads, 1);
  });
});
