/**
 * The ES module entry, for apps that bundle the SDK instead of pasting the snippet:
 *
 *   import { cxloop } from '@cxloop/sdk';
 *   cxloop.init('WRITE_KEY', { host: 'https://cxloop.example.com' });
 *
 * Importing has no side effect beyond capturing the page's originals; nothing runs before init().
 */

import { createCxloop as createClient } from './client.js';
import { captureEnv } from './env.js';

export { VERSION } from './version.js';

/**
 * A new, independent SDK instance over the given global object (default: this window).
 * @param {any} [globalObject]
 */
export function createCxloop(globalObject) {
  return createClient(captureEnv(globalObject || globalThis));
}

/** The default instance. */
export const cxloop = createCxloop();
