/**
 * The surveys engine: reads the core's calls, counts page views and sessions, keeps the traits it
 * has seen, decides which survey is due (targeting.js), shows it (one at a time) and sends its
 * events through the core's `track`, hence the durable outbox. The page, the clock and the
 * widget are passed in, so unit tests run it with a fake clock and a fake widget.
 */

import { pickText, resolveLocale } from './i18n.js';
import { DAY_MS, DEFAULT_SNOOZE_DAYS, SCALES, countActivity, emptyState, globMatch, ineligible, triggered } from './targeting.js';

/** @import { Store } from '../storage.js' */
/** @import { SurveyFeed } from '../client.js' */
/** @import { Locale } from './i18n.js' */
/** @import { Survey, SurveyState } from './targeting.js' */
/** @import { Widget, WidgetEvents } from './widget.js' */

/**
 * @typedef {object} EngineDeps
 * @property {any} api the SDK's public API (`track`, `user`)
 * @property {{ surveys: Survey[], cooldown_days?: number, snooze_days?: number }} config GET /v1/sdk/config
 * @property {string} writeKey
 * @property {{ locale?: string, debug?: boolean }} options
 * @property {Store} store
 * @property {() => number} now
 * @property {(fn: () => void, ms: number) => unknown} setTimeout
 * @property {() => string} path the current path, for a url trigger checked again when the delay ends
 * @property {(fn: () => void) => void} whenVisible runs `fn` now, or once the page is visible again
 * @property {string} language the browser's language, when there is no `locale` option
 * @property {(survey: Survey, locale: Locale, events: WidgetEvents) => Widget | null} render
 * @property {() => string} newId a random response id
 * @property {(...args: unknown[]) => void} log
 * @property {(...args: unknown[]) => void} warn
 */

/** A survey this version can show: a known kind and a question with some text. */
const valid = (/** @type {any} */ survey) => !!survey && typeof survey.id === 'string' && SCALES.hasOwnProperty(survey.kind) && !!pickText(survey.question, 'en');

/** @param {EngineDeps} deps */
export function createSurveys(deps) {
  const { api, config, store, now, log } = deps;
  const surveys = /** @type {Survey[]} */ ((config.surveys || []).filter(valid));
  const locale = resolveLocale(deps.options.locale || deps.language);
  /** Traits seen in identify and group calls, with the user or account they belong to. */
  const traits = {
    user: { id: /** @type {unknown} */ (undefined), values: /** @type {Record<string, unknown>} */ ({}) },
    account: { id: /** @type {unknown} */ (undefined), values: /** @type {Record<string, unknown>} */ ({}) },
  };
  /** Surveys triggered and waiting for their delay. */
  const waiting = new Set();
  /** @type {Widget | null} */
  let onScreen = null;

  const ids = () => /** @type {{ anonymousId: string, userId: string | null, groupId: string | null }} */ (api.user());
  const userKey = () => {
    const { userId, anonymousId } = ids();
    return userId || anonymousId;
  };
  const stateKey = () => 'cxloop:surveys:' + deps.writeKey + ':' + userKey();
  /** @returns {SurveyState} */
  const load = () => {
    try {
      return { ...emptyState(), ...JSON.parse(store._get(stateKey()) || '{}') };
    } catch (e) {
      return emptyState();
    }
  };
  /** Read, change, write at once: another tab of the same user may have written in between. */
  const update = (/** @type {(state: SurveyState) => void} */ change) => {
    const state = load();
    change(state);
    store._set(stateKey(), JSON.stringify(state));
    return state;
  };

  /**
   * @param {'Survey Shown' | 'Survey Dismissed' | 'Survey Responded'} event
   * @param {Survey} survey
   * @param {Record<string, unknown>} extra
   */
  const send = (event, survey, extra) => {
    /** @type {Record<string, unknown>} */
    const properties = { survey_id: survey.id, kind: survey.kind };
    if (survey.feature) properties.feature = survey.feature;
    api.track(event, Object.assign(properties, extra));
  };

  /** @param {'user' | 'account'} which @param {unknown} id @param {unknown} values */
  const remember = (which, id, values) => {
    const known = traits[which];
    if (known.id !== id) traits[which] = { id, values: {} };
    if (values && typeof values === 'object') Object.assign(traits[which].values, values);
  };

  /**
   * @param {Survey} survey
   * @param {boolean} forced `cxloop.survey(id)`: no trigger, sampling or throttling
   */
  const show = (survey, forced) => {
    if (onScreen) return log('survey', survey.id, 'waits: another survey is on screen');
    if (!forced) {
      const url = survey.trigger && survey.trigger.url;
      if (url && !globMatch(url, deps.path())) return log('survey', survey.id, 'not shown: the page changed during its delay');
      const { userId, anonymousId, groupId } = ids();
      const reason = ineligible(survey, {
        state: load(),
        now: now(),
        userKey: userId || anonymousId,
        user: traits.user.id === (userId || null) ? traits.user.values : null,
        account: groupId && traits.account.id === groupId ? traits.account.values : null,
        cooldownDays: config.cooldown_days,
      });
      if (reason) return log('survey', survey.id, 'not shown:', reason);
    }
    let scored = false;
    let completed = false;
    /** @type {{ shown: number | undefined, lastShown: number }} */
    let before = { shown: undefined, lastShown: 0 };
    let responseId = '';
    let score = 0;
    const complete = (/** @type {string} */ comment) => {
      if (completed) return;
      completed = true;
      send('Survey Responded', survey, comment ? { response_id: responseId, score, partial: false, comment } : { response_id: responseId, score, partial: false });
    };
    onScreen = deps.render(survey, locale, {
      score(value) {
        scored = true;
        score = value;
        responseId = deps.newId();
        update((state) => { state.answered[survey.id] = now(); });
        send('Survey Responded', survey, { response_id: responseId, score, partial: true });
      },
      complete,
      closed(reason) {
        onScreen = null;
        if (scored) return complete('');
        if (reason === 'done') return;
        if (reason === 'snooze') {
          // "Ask me later" means snooze_days for this survey: the showing that was put off
          // does not start the global cooldown, nor count as shown for `once`.
          const days = config.snooze_days == null ? DEFAULT_SNOOZE_DAYS : config.snooze_days;
          update((state) => {
            state.snoozed[survey.id] = now() + days * DAY_MS;
            state.lastShown = before.lastShown;
            if (before.shown) state.shown[survey.id] = before.shown; else delete state.shown[survey.id];
          });
        }
        send('Survey Dismissed', survey, { reason });
      },
    });
    if (!onScreen) return deps.warn('survey', survey.id, 'cannot be shown: no element matches its inline_selector', survey.inline_selector);
    update((state) => {
      before = { shown: state.shown[survey.id], lastShown: state.lastShown };
      state.shown[survey.id] = state.lastShown = now();
    });
    send('Survey Shown', survey, { placement: survey.placement || 'popover' });
  };

  /**
   * A trigger fired at `time`: the survey is shown after its delay, if it is eligible then.
   * @param {Survey} survey
   * @param {number} time
   */
  const schedule = (survey, time) => {
    if (waiting.has(survey.id)) return;
    waiting.add(survey.id);
    const delay = Math.max(0, time + ((survey.trigger && survey.trigger.delay_ms) || 0) - now());
    deps.setTimeout(() => deps.whenVisible(() => {
      waiting.delete(survey.id);
      try {
        show(survey, false);
      } catch (error) {
        log(error); // never throw from a timer into the page
      }
    }), delay);
  };

  /**
   * A call from the core's feed: a captured call (CapturedCall in payload.js) or `['survey', id]`.
   * @param {[type: string, fields: any, page?: any, time?: number, anonymousId?: unknown, userId?: unknown]} call
   */
  const handle = ([type, fields, page, time, , userId]) => {
    if (type === 'survey') {
      const survey = surveys.find((s) => s.id === String(fields));
      return survey ? show(survey, true) : deps.warn(`cxloop.survey(${JSON.stringify(fields)}): no such active survey (only active surveys, within their account's cap, can be shown)`);
    }
    if (type === 'identify') return remember('user', userId === undefined ? ids().userId : userId, fields.traits);
    if (type === 'group') return remember('account', fields.groupId, fields.traits);
    if (type !== 'page' && type !== 'track') return;
    const at = time || now();
    const state = update((s) => countActivity(s, at, type === 'page'));
    const properties = fields.properties || {};
    const event = type === 'page' ? null : String(fields.event);
    const feature = event === 'Feature Used' ? properties.feature : null;
    const path = (page && page.path) || deps.path();
    for (const survey of surveys) {
      if (triggered(survey, { event, feature, path, state })) schedule(survey, at);
    }
  };

  return {
    /** @param {SurveyFeed[number]} call */
    _handle(call) {
      try {
        handle(/** @type {any} */ (call));
      } catch (error) {
        log(error);
      }
    },
    _surveys: surveys,
  };
}
