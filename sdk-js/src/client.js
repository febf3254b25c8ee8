/**
 * The public API: capture → outbox → batches over fetch keepalive, and sendBeacon when the page is
 * hidden or goes away. Every public method and every callback the SDK registers is wrapped so that
 * nothing ever throws into the host page.
 */

import { routeKey, watchHistory } from './autotrack.js';
import { createOutbox } from './outbox.js';
import { buildEvent, pageFields, staticContext, timezone, utf8Length, uuid } from './payload.js';
import { privacySignal, trackingDisabled } from './privacy.js';
import { createCallQueue } from './queue.js';
import { createStore } from './storage.js';
import { DROP, OK, RETRY, SPLIT, backoff, batchBody, classify, post, retryAfterMs } from './transport.js';
import { VERSION } from './version.js';

/** @import { Env } from './env.js' */
/** @import { Entry, Outbox } from './outbox.js' */
/** @import { CapturedCall, Properties, StoredIds } from './payload.js' */
/** @import { Consent } from './privacy.js' */
/** @import { QueuedCall } from './queue.js' */
/** @import { Store } from './storage.js' */

/** @typedef {(CapturedCall | ['survey', unknown])[]} SurveyFeed */

/**
 * What the core hands the surveys bundle, on the bundle's script element (`script._plug`): the
 * public API (the bundle sends its events with `track`, reads the ids with `user`), the answer of
 * GET /v1/sdk/config, the write key, the options, the store for its per-user state (honouring
 * `persistence` and consent), and the feed of calls (the bundle replaces its `push`).
 * @typedef {[api: any, config: any, writeKey: string, options: Options, store: Store, feed: SurveyFeed]} SurveyPlug
 */

/**
 * @typedef {object} Options
 * @property {string} [host] cxloop server origin; default: where the SDK was loaded from
 * @property {boolean} autoPage page views on load and on single-page-app navigation
 * @property {number} flushAt send once this many events are waiting
 * @property {number} flushInterval ms: send waiting events at least this often
 * @property {number} maxQueueEvents outbox cap per tab, in events
 * @property {number} maxQueueBytes outbox cap per tab, in bytes
 * @property {'localStorage' | 'memory'} [persistence] 'memory' keeps ids and the outbox out of localStorage
 * @property {boolean} [requireConsent] hold events in memory until `consent(true)`; drop them on `consent(false)`
 * @property {boolean} [respectDoNotTrack] send nothing when Do Not Track or Global Privacy Control is on
 * @property {boolean} [debug] log what is sent and why something is not
 * @property {string} [locale] the surveys' language (en, zh-CN, zh-TW); default: the browser's
 * @property {string} [nonce] CSP nonce for the surveys bundle's script; default: the SDK script's own
 * @property {(error: DeliveryError) => void} [onError] called when the server refused events for good
 *   (they are also logged with console.warn)
 */

/**
 * Events the server refused for good: 400, 401, 403, 404, a single event still too large (413), or
 * still failing alone (500 or network error) after its retry budget while other events got through.
 * @typedef {{ status: number, messageIds: string[], message: string }} DeliveryError
 */

/** Options left out here (host, requireConsent, respectDoNotTrack, debug) default to off; persistence to 'localStorage'. */
/** @type {Options} */
export const DEFAULTS = /** @type {Options} */ ({
  autoPage: true,
  flushAt: 20,
  flushInterval: 2000,
  maxQueueEvents: 500,
  maxQueueBytes: 256000,
});

/** The server's per-event limit. */
export const MAX_EVENT_BYTES = 32000;
/** Per request, inside the 64 KB that keepalive fetches and beacons may have in flight. */
export const MAX_REQUEST_BYTES = 60000;
/** Room for `sentAt`, `writeKey` and the brackets around the events. */
const ENVELOPE_BYTES = 512;
/** Events held in memory while consent is pending; also the most events a request carries. */
const MAX_HELD = 500;
/** Failed attempts (500 or network error) after which a batch is split, or a single event dropped. */
export const RETRY_BUDGET = 3;
/** Lets a router update the title (and replace the URL it just pushed) before the page view. */
export const PAGE_SETTLE_MS = 50;

const ANONYMOUS_ID_KEY = 'cxloop.aid';
const USER_ID_KEY = 'cxloop.uid';
const GROUP_ID_KEY = 'cxloop.gid';
const OPT_OUT_KEY = 'cxloop.optout';

/** The surveys bundle, loaded from the directory the core came from (see `loadSurveys`). */
const SURVEYS_FILE = 'cxloop-surveys.min.js';

/** Methods that run at once when called before `init`; the others wait in the pre-init queue. */
const NOT_QUEUED = ['init', 'flush', 'user'];

/**
 * @param {Env} env
 */
export function createCxloop(env) {
  const win = env._win;
  /** @type {Options | null} */
  let options = null;
  let writeKey = '';
  /** The cxloop server's origin, and its ingest endpoint. */
  let host = '';
  let url = '';
  /** @type {Store} */
  let store;
  /** @type {Outbox} */
  let outbox;
  /** @type {Consent} */
  let consent = true;
  let signal = false;
  /** Calls held in memory while consent is pending. */
  /** @type {CapturedCall[]} */
  let held = [];
  /** Calls captured, their events not yet built and in the outbox: that waits for an idle moment. */
  /** @type {CapturedCall[]} */
  let captured = [];
  /** The static context and the time zone, computed with the first events completed. */
  /** @type {Properties | null} */
  let fullContext = null;
  /** The opt-out flag as this tab knows it; the stored one (other tabs) is checked before storing and sending. */
  let optedOutHere = false;
  /** Time of the replayed call being run (the snippet records when each call was made). */
  let callTime = 0;
  /**
   * The ids new events get. `undefined` until known: the ids stored by earlier visits are read in
   * an idle moment (`loadIds`), not on the calls' path, and fill in what events left undefined.
   */
  const state = {
    /** @type {string | undefined} */
    _anonymousId: undefined,
    /** @type {string | null | undefined} */
    _userId: undefined,
    /** @type {string | null | undefined} */
    _groupId: undefined,
    _referrer: '',
  };
  /** @type {StoredIds | null} */
  let stored = null;
  let attempt = 0;
  let retryAt = 0;
  let networkFailed = false;
  /**
   * Events per request: `flushAt` decides when to send, a request then takes what is waiting (under
   * 60 KB): each request costs the page's main thread a few ms, so a burst goes in few of them.
   * A 413 halves it.
   */
  let maxBatch = MAX_HELD;
  /** @type {any} */
  let flushTimer = null;
  let flushTimerAt = 0;
  /** @type {Promise<void> | null} */
  let draining = null;
  /** @type {any} */
  let pageTimer = null;
  let lastRoute = '';
  let lastUrl = '';
  /** When init was called, while its automatic page view is still to be sent. */
  let initialPageTime = 0;
  const preInit = createCallQueue();
  /**
   * The surveys bundle's feed: captured calls and `['survey', id]`, kept from init until the
   * bundle replaces `push` with its own handler (as the snippet's stub is replayed), or dropped
   * (null) once the config lists no survey or cannot be had.
   * @type {SurveyFeed | null}
   */
  let surveyFeed = null;

  /** @param {unknown[]} args */
  const log = (...args) => { if (options && options.debug) env._log('[cxloop]', ...args); };
  /** @param {unknown[]} args */
  const warn = (...args) => env._warn('[cxloop]', ...args);

  /**
   * @template {unknown[]} A
   * @template R
   * @param {(...args: A) => R} fn
   * @returns {(...args: A) => R | undefined}
   */
  const safe = (fn) => (...args) => {
    try {
      return fn(...args);
    } catch (error) {
      log(error);
    }
  };

  const optedOut = () => (optedOutHere = store._get(OPT_OUT_KEY) === '1');
  const disabledReason = () => trackingDisabled(optedOut(), signal, consent);
  /** Ids and the outbox go to localStorage only with consent, without opt-out or a privacy signal. */
  const updatePersistence = () => {
    store._persist(/** @type {Options} */ (options).persistence !== 'memory' && consent === true && !disabledReason());
  };
  /** Reads the stored ids once; ids set by calls since then take precedence. */
  const loadIds = () => {
    if (!stored) {
      stored = [store._get(ANONYMOUS_ID_KEY) || uuid(env._random16()), store._get(USER_ID_KEY), store._get(GROUP_ID_KEY)];
      if (state._anonymousId === undefined) state._anonymousId = stored[0];
      if (state._userId === undefined) state._userId = stored[1];
      if (state._groupId === undefined) state._groupId = stored[2];
    }
    return stored;
  };
  /** Ids are written with the events, in an idle moment: the first localStorage access is slow. */
  const saveIds = () => {
    loadIds();
    store._set(ANONYMOUS_ID_KEY, /** @type {string} */ (state._anonymousId));
    if (state._userId) store._set(USER_ID_KEY, state._userId);
    if (state._groupId) store._set(GROUP_ID_KEY, state._groupId);
  };
  const forgetIds = () => [ANONYMOUS_ID_KEY, USER_ID_KEY, GROUP_ID_KEY].forEach(store._del);
  const newAnonymousId = () => {
    state._anonymousId = uuid(env._random16());
    later();
  };

  let commitDue = false;
  /** Schedules `commit` for the next idle moment. */
  const later = () => {
    if (!commitDue) {
      commitDue = true;
      env._idle(safe(commit));
    }
  };

  /**
   * Serialises the captured events into the outbox, saves the ids, and arms sending. Runs in an
   * idle moment, and at once before anything is sent or the page goes away.
   */
  const commit = () => {
    commitDue = false;
    if (disabledReason()) {
      captured = [];
      updatePersistence();
      return;
    }
    saveIds();
    if (!captured.length) return;
    fullContext = fullContext || { ...staticContext(win), timezone: timezone(win) };
    for (const call of captured.splice(0)) {
      const event = buildEvent(env, call, /** @type {StoredIds} */ (stored), fullContext);
      log('queued', event);
      let json;
      try {
        json = env._stringify(event);
      } catch (error) {
        warn('dropped', event.type, error);
        continue;
      }
      const bytes = utf8Length(json);
      if (bytes > MAX_EVENT_BYTES) warn('dropped', event.type, 'over 32 KB');
      else outbox._add({ _id: event.messageId, _json: json, _bytes: bytes, _time: call[3] });
    }
    outbox._save(); // one localStorage write for however many events
    const opts = /** @type {Options} */ (options);
    schedule(outbox._size() >= opts.flushAt ? 0 : opts.flushInterval);
  };

  /**
   * @param {CapturedCall[0]} type
   * @param {Properties} fields
   */
  const capture = (type, fields) => {
    // The opt-out flag as last read: localStorage is not touched on the calls' path.
    const reason = trackingDisabled(optedOutHere, signal, consent);
    if (reason) return log('dropped', type, reason);
    /** @type {CapturedCall} */
    const call = [type, fields, pageFields(win, state._referrer), callTime || env._now(), state._anonymousId, state._userId, state._groupId];
    if (consent === null) {
      if (held.length < MAX_HELD) held.push(call);
      return log('held', type);
    }
    if (surveyFeed) surveyFeed.push(call);
    captured.push(call);
    later();
  };

  /** Arms the flush timer to fire within `ms` (or when the backoff ends), never later than armed. */
  const schedule = (/** @type {number} */ ms) => {
    const now = env._now();
    const at = Math.max(now + ms, retryAt);
    if (flushTimer != null && flushTimerAt <= at) return;
    env._clearTimeout(flushTimer);
    flushTimerAt = at;
    flushTimer = env._setTimeout(safe(() => {
      flushTimer = null;
      flush();
    }), at - now);
  };

  const canSend = () => !!url && consent === true && win.navigator.onLine !== false && env._now() >= retryAt;

  /** @param {Entry[]} batch */
  const body = (batch) => batchBody(batch, env._iso(env._now()), writeKey, env._stringify);

  const drain = async () => {
    commit();
    if (optedOut()) outbox._clear(); // the user opted out in another tab
    if (env._now() < retryAt) schedule(0); // woken early: wait for the end of the backoff
    while (canSend()) {
      const batch = outbox._take(maxBatch, MAX_REQUEST_BYTES - ENVELOPE_BYTES);
      if (!batch.length) return;
      const response = await post(env, url, body(batch));
      const status = response._status;
      const [first] = batch;
      let verdict = classify(status);
      // A 500, or a network error (what a 500 without CORS looks like), may be the batch's own
      // fault: after RETRY_BUDGET of them (counted on its first event) it is split at once, and a
      // single event is dropped if a 200 came after its last failure (`attempt` is 0): the server
      // takes other events, just not this one. A failed event goes behind the others (outbox
      // `_done`), so they get that chance. 503, 429 and 408 cost no budget.
      if (verdict === RETRY && (!status || status > 499 && status !== 503)
        && (first._fails = -~(/** @type {number} */ (first._fails))) >= RETRY_BUDGET) {
        verdict = batch.length > 1 ? SPLIT : attempt ? RETRY : DROP;
      }
      if (verdict === RETRY) {
        outbox._done(batch, false);
        networkFailed = !status;
        const wait = Math.max(retryAfterMs(response._retryAfter, env._now(), env._parseTime), backoff(++attempt, env._random));
        retryAt = env._now() + wait;
        log('HTTP', status, 'retry in', wait);
        schedule(0);
        return;
      }
      if (verdict === SPLIT && batch.length > 1) {
        outbox._done(batch, false);
        maxBatch = (batch.length + 1) >> 1; // the larger half
        attempt++; // a failure too: what proves a lone event bad is a 200 after its last failure
        continue;
      }
      outbox._done(batch, true);
      if (verdict === OK) {
        attempt = 0;
        maxBatch = MAX_HELD;
        log('HTTP', status, response._text);
      } else {
        /** @type {DeliveryError} */
        const error = { status, messageIds: batch.map((e) => e._id), message: response._text };
        warn('dropped', error);
        safe(/** @type {Options} */ (options).onError || log)(error);
      }
    }
  };

  const flush = () => {
    if (!outbox) return Promise.resolve();
    if (!draining) {
      draining = drain().then(
        () => { draining = null; },
        (error) => { draining = null; log(error); },
      );
    }
    return draining;
  };

  /** The page is hidden or going away: hand what is waiting to sendBeacon, keep what it refuses. */
  const sendBeacons = () => {
    if (!outbox) return;
    sendInitialPage();
    if (pageTimer) checkRoute();
    commit();
    if (canSend() && env._beacon) {
      for (let batch; (batch = outbox._take(maxBatch, MAX_REQUEST_BYTES - ENVELOPE_BYTES)).length;) {
        let queued = false;
        try {
          queued = env._beacon(url, body(batch));
        } catch (e) { /* treated as refused */ }
        outbox._done(batch, queued);
        log('beacon', queued, batch.length);
        if (!queued) break;
      }
    }
    outbox._save();
  };

  /** The first page view waits for the calls queued behind init, so that it carries their ids. */
  const sendInitialPage = () => {
    const time = initialPageTime;
    initialPageTime = 0;
    if (time) run(['page', [], time]);
  };

  const checkRoute = () => {
    env._clearTimeout(pageTimer);
    pageTimer = null;
    if (routeKey(win.location) !== lastRoute) api.page();
  };

  /**
   * In an idle moment after init (the account of a replayed `group` call known): the survey config.
   * The browser's HTTP cache revalidates it with If-None-Match (the server answers `no-cache` with
   * an ETag): a header of our own would make the request need a CORS preflight. Only when it lists
   * a survey is the surveys bundle loaded: a script from the core's own directory (the same
   * version or channel), with the core's nonce, that finds its plug on its script element.
   */
  const loadConfig = () => {
    const groupId = (loadIds(), state._groupId);
    if (disabledReason()) surveyFeed = null;
    else env._fetch(host + '/v1/sdk/config?writeKey=' + encodeURIComponent(writeKey) + (groupId ? '&groupId=' + encodeURIComponent(groupId) : ''), { credentials: 'omit' })
      .then((response) => response.json())
      .then((config) => {
        if (!config.surveys.length) throw 0;
        const script = /** @type {HTMLScriptElement & { _plug?: SurveyPlug }} */ (win.document.createElement('script'));
        const own = env._script || {};
        script.src = (own.src || host + '/sdk/v1/').replace(/[^/]*$/, SURVEYS_FILE);
        script.nonce = /** @type {Options} */ (options).nonce || own.nonce || '';
        script._plug = [api, config, writeKey, /** @type {Options} */ (options), store, /** @type {SurveyFeed} */ (surveyFeed)];
        script.onerror = () => (surveyFeed = null);
        win.document.head.appendChild(script);
      })
      .catch(() => (surveyFeed = null));
  };

  /** @type {Record<string, (...args: any[]) => unknown>} */
  const methods = {
    /**
     * @param {string} key
     * @param {Partial<Options>} [userOptions]
     */
    init(key, userOptions) {
      if (options) return log('init: already called');
      if (!key || typeof key !== 'string') return warn('init: no write key');
      if (!win.document || !win.location) return;
      const opts = (options = { ...DEFAULTS, ...userOptions });
      writeKey = key;
      host = String(opts.host || env._scriptOrigin || win.location.origin).replace(/\/+$/, '');
      url = host + '/v1/batch';
      signal = !!opts.respectDoNotTrack && privacySignal(win);
      consent = opts.requireConsent ? null : true;
      // Nothing is read from localStorage here: a stored opt-out is found before anything is stored or sent.
      store = createStore(env._ls, opts.persistence !== 'memory' && consent === true && !signal);
      later();
      state._referrer = win.document.referrer;
      outbox = createOutbox(env, store, 'cxloop.' + key + '.', opts.maxQueueEvents, opts.maxQueueBytes, log, () => schedule(0));
      /** @param {string} type @param {(event: any) => void} listener */
      const on = (type, listener) => win.addEventListener(type, safe(listener));
      on('pagehide', (/** @type {PageTransitionEvent} */ e) => {
        sendBeacons();
        if (!e.persisted) outbox._close();
      });
      on('visibilitychange', () => {
        if (win.document.visibilityState === 'hidden') sendBeacons();
      });
      on('pageshow', (/** @type {PageTransitionEvent} */ e) => {
        if (e.persisted) {
          outbox._tick();
          schedule(0);
        }
      });
      on('online', () => {
        // At once, but `attempt` stays: it is 0 only after a 200, which is what lets a failing event be dropped.
        if (networkFailed) retryAt = 0;
        schedule(0);
      });
      env._idle(safe(outbox._tick));
      surveyFeed = [];
      env._idle(safe(loadConfig));
      if (opts.autoPage) {
        watchHistory(win, safe(() => {
          sendInitialPage();
          env._clearTimeout(pageTimer);
          pageTimer = env._setTimeout(safe(checkRoute), PAGE_SETTLE_MS);
        }));
        initialPageTime = callTime || env._now();
        env._setTimeout(safe(sendInitialPage), 0);
      }
      log('ready', url);
      preInit._drain(run);
    },
    /**
     * @param {string | Properties | null} [userId]
     * @param {Properties} [traits]
     */
    identify(userId, traits) {
      if (userId && typeof userId === 'object') {
        traits = userId;
        userId = null;
      }
      if (userId != null && userId !== '') state._userId = String(userId);
      capture('identify', { traits });
    },
    /**
     * @param {string} accountId
     * @param {Properties} [traits]
     */
    group(accountId, traits) {
      if (accountId == null || accountId === '') return log('group: no id');
      capture('group', { groupId: (state._groupId = String(accountId)), traits });
    },
    /**
     * @param {string} event
     * @param {Properties} [properties]
     */
    track(event, properties) {
      if (!event) return log('track: no name');
      capture('track', { event: String(event), properties });
    },
    /**
     * @param {string | Properties} [name]
     * @param {Properties} [properties]
     */
    page(name, properties) {
      if (name && typeof name === 'object') {
        properties = name;
        name = undefined;
      }
      const href = win.location.href;
      if (lastUrl && href !== lastUrl) state._referrer = lastUrl;
      lastUrl = href;
      lastRoute = routeKey(win.location);
      capture('page', { name, properties: { ...pageFields(win, state._referrer), ...properties } });
    },
    /**
     * Feature usage: a `Feature Used` track event with `properties.feature`.
     * @param {string} key
     * @param {Properties} [properties]
     */
    feature(key, properties) {
      if (!key) return log('feature: no key');
      capture('track', { event: 'Feature Used', properties: { ...properties, feature: String(key) } });
    },
    reset() {
      loadIds(); // events captured before keep the ids they were captured with
      state._userId = state._groupId = null;
      store._del(USER_ID_KEY);
      store._del(GROUP_ID_KEY);
      newAnonymousId();
    },
    optOut() {
      store._set(OPT_OUT_KEY, '1', true);
      held = captured = [];
      outbox._clear();
      forgetIds();
      updatePersistence();
      log('opted out');
    },
    optIn() {
      store._del(OPT_OUT_KEY);
      updatePersistence();
      newAnonymousId();
      log('opted in');
    },
    /** @param {boolean} granted */
    consent(granted) {
      consent = !!granted;
      updatePersistence();
      if (consent) {
        captured.push(...held);
        later();
      } else {
        captured = [];
        outbox._clear();
        forgetIds();
      }
      held = [];
    },
    flush,
    /**
     * Shows a survey now, ignoring its triggers, sampling and throttling (it is still recorded as shown).
     * @param {string} id
     */
    survey(id) {
      if (surveyFeed) surveyFeed.push(['survey', id]);
    },
    /** @param {(api: any) => void} callback */
    ready(callback) {
      if (typeof callback === 'function') safe(callback)(api);
    },
    /** The ids events are sent with. */
    user() {
      loadIds();
      return { anonymousId: state._anonymousId, userId: state._userId, groupId: state._groupId };
    },
  };

  /** @param {QueuedCall} call */
  const run = ([name, args, time]) => {
    if (!methods.hasOwnProperty(name)) return log('unknown method', name);
    if (!options && !NOT_QUEUED.includes(name)) return preInit._push([name, args, time || env._now()]);
    callTime = time || 0;
    try {
      return methods[name].apply(null, /** @type {any[]} */ (args || []));
    } finally {
      callTime = 0;
    }
  };

  /** @type {any} */
  const api = { version: VERSION, _run: safe(run) };
  for (const name in methods) {
    api[name] = safe((/** @type {unknown[]} */ ...args) => run([name, args]));
  }
  return api;
}
