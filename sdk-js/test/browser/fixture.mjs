// The per-file fixture of the browser tests against the recording test server: `useServerAndBrowser()`
// starts the server and Chromium before the file's tests, resets the server's records before each
// test, and closes both after. `server` and `browser` are live bindings (ES modules export them as such).
import { after, before, beforeEach } from 'node:test';
import { launch } from './chromium.mjs';
import { startServer } from './server.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
export let server;
/** @type {import('playwright-core').Browser} */
export let browser;

export function useServerAndBrowser() {
  before(async () => {
    server = await startServer();
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });
  beforeEach(() => server.reset());
}
