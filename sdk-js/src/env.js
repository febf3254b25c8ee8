/**
 * Everything the SDK takes from the page, captured once when the SDK loads: a host page that
 * later replaces `fetch`, `JSON`, `Storage.prototype` or the timers cannot break delivery.
 * Unit tests pass a fake global object here instead of `window`.
 */

/**
 * @typedef {object} Env
 * @property {any} _win the global object (window): location, document, history, navigator, screen
 * @property {(url: string, init: RequestInit) => Promise<Response>} _fetch
 * @property {((url: string, data: string) => boolean) | null} _beacon
 * @property {(value: unknown) => string} _stringify
 * @property {(text: string) => any} _parse
 * @property {() => number} _now
 * @property {(iso: string) => number} _parseTime
 * @property {(ms: number) => string} _iso
 * @property {() => number} _random a float in [0, 1)
 * @property {() => Uint8Array} _random16 16 random bytes
 * @property {(fn: () => void, ms: number) => any} _setTimeout
 * @property {(id: any) => void} _clearTimeout
 * @property {(fn: () => void, ms: number) => any} _setInterval
 * @property {(fn: () => void) => void} _idle runs `fn` (which must not throw) when the page is idle, within a second
 * @property {RawStorage | null} _ls
 * @property {(...args: unknown[]) => void} _log
 * @property {(...args: unknown[]) => void} _warn
 * @property {string | null} _scriptOrigin origin the SDK was loaded from, the default host
 * @property {{ src?: string, nonce?: string } | null} [_script] the SDK's script tag: the surveys bundle
 *   is loaded from its directory, with its nonce
 */

/**
 * @typedef {object} RawStorage
 * @property {(key: string) => string | null} _get
 * @property {(key: string, value: string) => void} _set
 * @property {(key: string) => void} _del
 * @property {() => string[]} _keys
 */

/**
 * @param {any} g the global object
 * @returns {Env}
 */
export function captureEnv(g) {
  // JSON's and Math's functions and Date's statics do not depend on `this`.
  const json = g.JSON;
  const DateCtor = g.Date;
  // Guarded so that importing the ES module during server-side rendering does not throw.
  const crypto = g.crypto || {};
  const getRandomValues = crypto.getRandomValues;
  const nav = g.navigator || {};
  const console = g.console;
  const fetch = g.fetch;
  const beacon = nav.sendBeacon;
  const idle = g.requestIdleCallback;
  return {
    _win: g,
    _fetch: (url, init) => fetch.call(g, url, init),
    _beacon: beacon ? (url, data) => beacon.call(nav, url, data) : null,
    _stringify: json.stringify,
    _parse: json.parse,
    _now: DateCtor.now,
    _parseTime: DateCtor.parse,
    _iso: (ms) => new DateCtor(ms).toISOString(),
    _random: g.Math.random,
    _random16: () => getRandomValues.call(crypto, new Uint8Array(16)),
    _setTimeout: g.setTimeout.bind(g),
    _clearTimeout: g.clearTimeout.bind(g),
    _setInterval: g.setInterval.bind(g),
    _idle: idle ? (fn) => idle.call(g, fn, { timeout: 1000 }) : (fn) => g.setTimeout(fn, 0),
    _ls: captureStorage(g),
    _log: console.log.bind(console),
    _warn: console.warn.bind(console),
    _scriptOrigin: null,
  };
}

/**
 * localStorage through the Storage methods captured now, so that a host page wrapping them later
 * neither breaks nor sees our keys. `window.localStorage` itself is first read on first use: that
 * access is slow (Chromium opens the storage area), and happens in an idle moment, not while the
 * script loads. Any of these may throw (storage blocked, sandboxed iframe): the store catches it.
 * @param {any} g
 * @returns {RawStorage | null}
 */
function captureStorage(g) {
  const proto = g.Storage && g.Storage.prototype;
  if (!proto) return null;
  const { getItem, setItem, removeItem, key } = proto;
  /** @type {Storage} */
  let ls;
  const storage = () => ls || (ls = g.localStorage);
  return {
    _get: (k) => getItem.call(storage(), k),
    _set: (k, v) => setItem.call(storage(), k, v),
    _del: (k) => removeItem.call(storage(), k),
    _keys: () => {
      const keys = [];
      for (let i = storage().length; i--;) keys.push(/** @type {string} */ (key.call(ls, i)));
      return keys;
    },
  };
}
