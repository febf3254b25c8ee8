/**
 * Boots the snippet build: defines `window.cxloop`, then replays what the snippet's stub recorded
 * before the SDK loaded. Configuration can also come from the script tag itself:
 *
 *   <script async src="https://HOST/sdk/v1/cxloop.min.js" data-write-key="WRITE_KEY"></script>
 */

import { createCxloop } from './client.js';
import { captureEnv } from './env.js';
import { replayStub } from './queue.js';

/**
 * A `data-*` attribute value as an option: "" and "true" are true, "false" false, numbers numbers.
 * @param {string} value
 */
export const dataValue = (value) => (value === '' || value === 'true' ? true : value === 'false' ? false : value && +value === +value ? +value : value);

/** @param {any} win the page's window */
export function boot(win) {
  const stub = win.cxloop;
  if (stub && stub.version) return; // the SDK is already on the page: keep the first copy
  const script = /** @type {HTMLScriptElement | null} */ (win.document.currentScript);
  const env = captureEnv(win);
  env._script = script;
  try {
    env._scriptOrigin = script && script.src ? new win.URL(script.src).origin : null;
  } catch (e) { /* the host option or the page origin is used */ }
  const api = createCxloop(env);
  win.cxloop = api;
  const data = (script && script.dataset) || {};
  const calls = Array.isArray(stub) ? stub : [];
  if (data.writeKey && !calls.some((call) => call && call[0] === 'init')) {
    /** @type {Record<string, unknown>} */
    const options = {};
    for (const name in data) if (name !== 'writeKey') options[name] = dataValue(/** @type {string} */ (data[name]));
    api.init(data.writeKey, options);
  }
  replayStub(stub, api._run);
}
