/**
 * The IIFE entry, dist/cxloop-surveys.min.js: loaded by the core only when its config lists a
 * survey. The core hangs its plug on this script's element (`script._plug`, see client.js):
 * the API, the config, the write key, the options, the store, and the feed of calls, whose
 * `push` this bundle takes over (as the core takes over the snippet's stub).
 */

import { uuid } from '../payload.js';
import { createSurveys } from './engine.js';
import { renderWidget } from './widget.js';

/** @import { SurveyPlug } from '../client.js' */

/** @param {any} win */
function start(win) {
  const script = /** @type {(HTMLScriptElement & { _plug?: SurveyPlug }) | null} */ (win.document.currentScript);
  const plug = script && script._plug;
  if (!plug) return;
  const [api, config, writeKey, options, store, feed] = plug;
  const console = win.console;
  const crypto = win.crypto;
  const now = win.Date.now;
  const setTimeout = win.setTimeout.bind(win);
  // Styles get the `nonce` option, else the nonce the core gave this script.
  const nonce = options.nonce || /** @type {HTMLScriptElement} */ (script).nonce;
  const engine = createSurveys({
    api,
    config,
    writeKey,
    options,
    store,
    now,
    setTimeout,
    path: () => win.location.pathname,
    whenVisible(fn) {
      if (win.document.visibilityState !== 'hidden') return fn();
      const listener = () => {
        if (win.document.visibilityState === 'hidden') return;
        win.document.removeEventListener('visibilitychange', listener);
        fn();
      };
      win.document.addEventListener('visibilitychange', listener);
    },
    language: win.navigator.language,
    render: (survey, locale, events) => renderWidget(win, survey, { locale, nonce, events }),
    newId: () => (crypto.randomUUID ? crypto.randomUUID() : uuid(crypto.getRandomValues(new Uint8Array(16)))),
    log: (...args) => { if (options.debug) console.log('[cxloop surveys]', ...args); },
    warn: (...args) => console.warn('[cxloop surveys]', ...args),
  });
  for (const call of feed.splice(0)) engine._handle(call);
  feed.push = (...calls) => {
    calls.forEach(engine._handle);
    return 0;
  };
}

try {
  start(window);
} catch (e) { /* never throw into the page: without the bundle, no survey is shown */ }
