// Shared setup for the behaviour tests that run on every build.
import { fakeWindow } from './fake-browser.js';

export const HOST = 'https://cx.example.com';
export const WRITE_KEY = 'wk_test_123';
export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * A fake window with the build loaded and, unless `init: false`, initialised.
 * @param {import('./builds.js').Build} build
 * @param {{ window?: Parameters<typeof fakeWindow>[0], options?: Record<string, unknown>,
 *   init?: boolean, stub?: unknown[] }} [o]
 */
export function setup(build, o = {}) {
  const win = fakeWindow(o.window);
  if (o.stub) win.cxloop = o.stub;
  const cx = build.load(win);
  if (o.init !== false) cx.init(WRITE_KEY, { host: HOST, autoPage: false, ...o.options });
  const { clock, network, storage, logs, warnings } = win._test;
  return { win, cx, clock, network, storage, logs, warnings };
}

/** Storage keys the SDK's outbox uses. */
export const outboxKeys = (/** @type {import('./fake-browser.js').FakeStorage} */ storage) =>
  [...storage.map.keys()].filter((k) => k.startsWith('cxloop.' + WRITE_KEY + '.'));
