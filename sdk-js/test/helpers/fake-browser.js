// A small fake of the browser globals the SDK touches, for unit tests only: a manual clock with
// timers, localStorage with a quota, a recording fetch and sendBeacon, location/history/document.
// The browser tests (test/browser/) use a real Chromium instead.
import { webcrypto } from 'node:crypto';

/** A manual clock: timers run only when the test advances time. */
export class Clock {
  constructor(start = Date.UTC(2026, 0, 15, 12, 0, 0)) {
    this.now = start;
    /** @type {Map<number, { at: number, fn: Function, every?: number }>} */
    this.timers = new Map();
    this.nextId = 1;
  }
  /** @param {Function} fn @param {number} [ms] */
  setTimeout(fn, ms = 0) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.now + Math.max(0, ms || 0), fn });
    return id;
  }
  /** @param {Function} fn @param {number} ms */
  setInterval(fn, ms) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.now + ms, fn, every: ms });
    return id;
  }
  /** @param {number} id */
  clearTimeout(id) {
    this.timers.delete(id);
  }
  /** Runs every timer due within `ms`, in time order, letting promises settle in between. */
  async advance(ms = 0) {
    const end = this.now + ms;
    await settle();
    for (;;) {
      let id = 0;
      /** @type {{ at: number, fn: Function, every?: number } | null} */
      let timer = null;
      for (const [i, t] of this.timers) if (t.at <= end && (!timer || t.at < timer.at)) [id, timer] = [i, t];
      if (!timer) break;
      this.now = Math.max(this.now, timer.at);
      if (timer.every) timer.at += timer.every;
      else this.timers.delete(id);
      timer.fn();
      await settle();
    }
    this.now = end;
    await settle();
  }
}

/** Lets pending promise callbacks (fetch responses, microtasks) run. */
export async function settle() {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

export class QuotaExceededError extends Error {
  name = 'QuotaExceededError';
}

/** localStorage with a quota in UTF-16 code units, like browsers count it. */
export class FakeStorage {
  constructor(quota = 5_000_000) {
    /** @type {Map<string, string>} */
    this.map = new Map();
    this.quota = quota;
    this.throwOnAccess = false;
  }
  get length() {
    if (this.throwOnAccess) throw new Error('SecurityError');
    return this.map.size;
  }
  used() {
    let n = 0;
    for (const [k, v] of this.map) n += k.length + v.length;
    return n;
  }
  /** @param {number} i */
  key(i) {
    return [...this.map.keys()][i] ?? null;
  }
  /** @param {string} k */
  getItem(k) {
    if (this.throwOnAccess) throw new Error('SecurityError');
    return this.map.has(k) ? /** @type {string} */ (this.map.get(k)) : null;
  }
  /** @param {string} k @param {string} v */
  setItem(k, v) {
    if (this.throwOnAccess) throw new Error('SecurityError');
    v = String(v);
    const old = this.map.get(k);
    const delta = k.length + v.length - (old == null ? 0 : k.length + old.length);
    if (this.used() + delta > this.quota) throw new QuotaExceededError('quota exceeded');
    this.map.set(k, v);
  }
  /** @param {string} k */
  removeItem(k) {
    this.map.delete(k);
  }
  clear() {
    this.map.clear();
  }
  /** The SDK's keys and values, parsed where they are JSON. */
  dump() {
    return Object.fromEntries([...this.map].filter(([k]) => k.startsWith('cxloop')));
  }
}

/**
 * The recording ingest endpoint behind fetch and sendBeacon. `respond` decides each answer;
 * the default is the server's 200. GET requests (the survey config) are recorded apart, in
 * `gets`, and answered by `config` (a status and a JSON body, or 'network-error').
 */
export class FakeNetwork {
  constructor() {
    /** @type {{ url: string, body: any, raw: string, via: 'fetch' | 'beacon', init?: any }[]} */
    this.requests = [];
    /** @type {{ url: string, init: any }[]} */
    this.gets = [];
    /** @type {{ status: number, body: unknown } | 'network-error'} */
    this.config = { status: 200, body: { cooldown_days: 14, snooze_days: 3, surveys: [] } };
    /** @type {(request: { url: string, body: any }) => ({ status: number, headers?: Record<string, string>, body?: string } | 'network-error')} */
    this.respond = ({ body }) => ({ status: 200, body: JSON.stringify({ accepted: body.batch.length, rejected: [] }) });
    this.beaconResult = true;
  }
  /** Every event received, in order. */
  events() {
    return this.requests.flatMap((r) => r.body.batch);
  }
  /** @param {string} url @param {any} init */
  fetch = async (url, init) => {
    if ((init.method || 'GET') === 'GET') {
      this.gets.push({ url, init });
      const answer = this.config;
      if (answer === 'network-error') throw new TypeError('Failed to fetch');
      return { status: answer.status, json: async () => JSON.parse(JSON.stringify(answer.body)) };
    }
    const raw = init.body;
    const request = { url, body: JSON.parse(raw), raw, via: /** @type {const} */ ('fetch'), init };
    const answer = this.respond(request);
    if (answer === 'network-error') {
      this.failed = (this.failed || 0) + 1;
      throw new TypeError('Failed to fetch');
    }
    this.requests.push(request);
    const headers = new Map(Object.entries(answer.headers || {}).map(([k, v]) => [k.toLowerCase(), v]));
    return {
      status: answer.status,
      headers: { get: (/** @type {string} */ name) => headers.get(name.toLowerCase()) ?? null },
      text: async () => answer.body || '',
    };
  };
  /** @param {string} url @param {string} data */
  sendBeacon = (url, data) => {
    if (!this.beaconResult) return false;
    this.requests.push({ url, body: JSON.parse(data), raw: data, via: 'beacon' });
    return true;
  };
}

/**
 * A fake window. Several windows may share one `storage` (tabs of the same origin) and one
 * `network`, and one `clock`.
 * @param {{ url?: string, storage?: FakeStorage, network?: FakeNetwork, clock?: Clock,
 *   navigator?: Record<string, unknown>, title?: string, referrer?: string }} [o]
 */
export function fakeWindow(o = {}) {
  const clock = o.clock || new Clock();
  const network = o.network || new FakeNetwork();
  const storage = o.storage || new FakeStorage();
  /** @type {Map<string, Set<Function>>} */
  const listeners = new Map();
  /** @type {Record<string, string>} */
  const location = {};
  const setUrl = (/** @type {string} */ href) => {
    const u = new URL(href, location.href || undefined);
    Object.assign(location, { href: u.href, origin: u.origin, pathname: u.pathname, search: u.search, hash: u.hash, host: u.host });
  };
  setUrl(o.url || 'https://app.example.com/dashboard?tab=1');
  const logs = /** @type {unknown[][]} */ ([]);
  /** Script elements the SDK appended to <head>. */
  const scripts = /** @type {any[]} */ ([]);
  const warnings = /** @type {unknown[][]} */ ([]);
  const cookies = /** @type {string[]} */ ([]);
  class FakeDate extends Date {
    constructor(/** @type {any[]} */ ...args) {
      // @ts-ignore spread into Date
      super(...(args.length ? args : [clock.now]));
    }
    static now() {
      return clock.now;
    }
  }
  /** @type {any} */
  const win = {
    location,
    document: {
      title: o.title || 'Dashboard',
      referrer: o.referrer ?? 'https://www.example.org/',
      visibilityState: 'visible',
      currentScript: null,
      createElement: (/** @type {string} */ tagName) => ({ tagName: tagName.toUpperCase() }),
      head: { appendChild: (/** @type {any} */ node) => scripts.push(node) },
      get cookie() { return cookies.join('; '); },
      set cookie(v) { cookies.push(v); },
    },
    history: {
      /** @param {unknown} state @param {string} title @param {string} [url] */
      pushState(state, title, url) { if (url) setUrl(url); },
      /** @param {unknown} state @param {string} title @param {string} [url] */
      replaceState(state, title, url) { if (url) setUrl(url); },
    },
    navigator: {
      language: 'en-GB',
      userAgent: 'FakeBrowser/1.0',
      onLine: true,
      sendBeacon: network.sendBeacon,
      ...o.navigator,
    },
    screen: { width: 1440, height: 900 },
    localStorage: storage,
    Storage: storage.constructor,
    fetch: network.fetch,
    JSON,
    Date: FakeDate,
    Math,
    Intl,
    Promise,
    URL,
    crypto: webcrypto,
    console: {
      log: (/** @type {unknown[]} */ ...args) => logs.push(args),
      warn: (/** @type {unknown[]} */ ...args) => warnings.push(args),
    },
    setTimeout: clock.setTimeout.bind(clock),
    clearTimeout: clock.clearTimeout.bind(clock),
    setInterval: clock.setInterval.bind(clock),
    clearInterval: clock.clearTimeout.bind(clock),
    queueMicrotask,
    /** @param {string} type @param {Function} fn */
    addEventListener(type, fn) {
      if (!listeners.has(type)) listeners.set(type, new Set());
      /** @type {Set<Function>} */ (listeners.get(type)).add(fn);
    },
    /** @param {string} type @param {Function} fn */
    removeEventListener(type, fn) {
      listeners.get(type)?.delete(fn);
    },
    /** @param {string} type @param {Record<string, unknown>} [props] */
    dispatch(type, props = {}) {
      for (const fn of listeners.get(type) || []) fn({ type, ...props });
    },
    // test handles
    _test: { clock, network, storage, logs, warnings, cookies, setUrl, listeners, scripts },
  };
  win.window = win;
  win.self = win;
  return win;
}

/**
 * Simulates closing the tab: visibilitychange to hidden, then pagehide.
 * @param {any} win
 */
export function closeTab(win, persisted = false) {
  win.document.visibilityState = 'hidden';
  win.dispatch('visibilitychange');
  win.dispatch('pagehide', { persisted });
}
