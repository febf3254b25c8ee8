// What the browser tests against the real cxloop server share, started once per test file: the
// vendor app's pages (test/browser/server.mjs), a headless Chromium (chromium.mjs) and the real
// backend (backend.mjs). The exported bindings are live: they are set once `before` has run.
import { after, before } from 'node:test';
import { startBackend } from './backend.mjs';
import { launch } from './chromium.mjs';
import { startServer } from './server.mjs';

/** @type {Awaited<ReturnType<typeof startBackend>>} */
export let backend;
/** @type {Awaited<ReturnType<typeof startServer>>} */
export let app;
/** @type {import('playwright-core').Browser} */
export let browser;

/**
 * Starts the three before the file's tests, then runs `setup` within the same time limit;
 * stops whatever started after them.
 * @param {{ setup?: () => Promise<void> }} [options]
 */
export function useRealBackend({ setup } = {}) {
  before(async () => {
    app = await startServer();
    browser = await launch();
    backend = await startBackend();
    await setup?.();
  }, { timeout: 90000 });
  after(async () => {
    await browser?.close();
    await app?.close();
    await backend?.stop();
  });
}
