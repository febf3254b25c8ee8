/**
 * Who gets a survey and when: triggers, trait filters, sampling, frequency and the global
 * cooldown, exactly as docs/surveys.md says. Pure functions: the time and the state come in as
 * arguments, so unit tests drive them with a fake clock.
 */

export const DAY_MS = 864e5;
/** 30 minutes without a page view or track call end a session. */
export const SESSION_GAP_MS = 30 * 60 * 1000;
export const DEFAULT_COOLDOWN_DAYS = 14;
export const DEFAULT_SNOOZE_DAYS = 3;

/** The scores each kind offers, lowest first. */
export const SCALES = /** @type {const} */ ({ nps: [0, 10], csat: [1, 5], ces: [1, 7], thumbs: [0, 1], emoji: [1, 5] });
/**
 * Where each kind's segments end: a score at the first number or further from the good end is a
 * detractor, one at the second or nearer to it a promoter, anything between passive. The same
 * table as the backend's `cxloop.surveys.ratings.SCALES` (a Python test holds them equal).
 */
export const EDGES = /** @type {const} */ ({ nps: [6, 9], csat: [2, 4], ces: [5, 3], thumbs: [0, 1], emoji: [2, 4] });

/** @typedef {keyof typeof SCALES} Kind */
/** @typedef {Record<string, string>} Texts text per locale */
/** @typedef {{ trait: string, op: string, value?: unknown }} Filter */
/**
 * A survey as GET /v1/sdk/config lists it.
 * @typedef {{
 *   id: string,
 *   kind: Kind,
 *   question: Texts,
 *   follow_up?: { default?: Texts, detractor?: Texts, passive?: Texts, promoter?: Texts } | null,
 *   feature?: string | null,
 *   trigger?: { event?: string | null, url?: string | null, min_page_views?: number | null,
 *     min_sessions?: number | null, delay_ms?: number | null } | null,
 *   filters?: { user?: Filter[] | null, account?: Filter[] | null } | null,
 *   sample_percent?: number | null,
 *   frequency?: { mode: 'once' | 'until_answered' | 'recurring', every_days?: number | null } | null,
 *   placement?: 'popover' | 'modal' | 'inline' | null,
 *   inline_selector?: string | null,
 * }} Survey
 */
/**
 * What the SDK keeps per user (localStorage `cxloop:surveys:<writeKey>:<userId|anonymousId>`): the
 * documented fields, plus the counters the triggers need.
 * @typedef {{
 *   shown: Record<string, number>, answered: Record<string, number>, snoozed: Record<string, number>,
 *   lastShown: number, pageViews: number, sessions: number, lastSeen: number,
 * }} SurveyState
 */

/** @returns {SurveyState} */
export const emptyState = () => ({ shown: {}, answered: {}, snoozed: {}, lastShown: 0, pageViews: 0, sessions: 0, lastSeen: 0 });

/**
 * 32-bit FNV-1a over the UTF-8 bytes of `text` (offset basis 2166136261, prime 16777619).
 * @param {string} text
 */
export function fnv1a32(text) {
  let hash = 2166136261;
  for (const byte of new TextEncoder().encode(text)) hash = Math.imul(hash ^ byte, 16777619);
  return hash >>> 0;
}

/**
 * Deterministic sampling: the same user always gets the same answer for a survey.
 * @param {string} surveyId
 * @param {string} userKey userId, else anonymousId
 * @param {number | null | undefined} percent 0–100, default 100
 */
export function sampled(surveyId, userKey, percent) {
  return fnv1a32(surveyId + ':' + userKey) % 100 < (percent == null ? 100 : percent);
}

/**
 * A path glob: `*` stands for any run of characters (slashes included), everything else for itself.
 * @param {string} glob
 * @param {string} path
 */
export function globMatch(glob, path) {
  const parts = glob.split('*');
  const last = /** @type {string} */ (parts.pop());
  if (!parts.length) return glob === path;
  if (!path.startsWith(parts[0])) return false;
  let at = parts[0].length;
  // The leftmost match of each middle part leaves the most room for the rest.
  for (let i = 1; i < parts.length; i++) {
    const found = path.indexOf(parts[i], at);
    if (found < 0) return false;
    at = found + parts[i].length;
  }
  return path.length - last.length >= at && path.endsWith(last);
}

/**
 * One filter on the known traits. An absent trait fails every op but `neq`, `nin` and `not_exists`;
 * an unknown op fails (a survey is better not shown than shown to the wrong people).
 * @param {Filter} filter
 * @param {Record<string, unknown> | null | undefined} traits
 */
export function filterHolds({ trait, op, value }, traits) {
  const actual = traits ? traits[trait] : undefined;
  if (actual == null) return op === 'neq' || op === 'nin' || op === 'not_exists';
  const numbers = typeof actual === 'number' && typeof value === 'number';
  switch (op) {
    case 'eq': return actual === value;
    case 'neq': return actual !== value;
    case 'in': return Array.isArray(value) && value.includes(actual);
    case 'nin': return !(Array.isArray(value) && value.includes(actual));
    case 'gt': return numbers && actual > value;
    case 'gte': return numbers && actual >= value;
    case 'lt': return numbers && actual < value;
    case 'lte': return numbers && actual <= value;
    case 'exists': return true;
    case 'contains': return typeof actual === 'string' && typeof value === 'string' && actual.includes(value);
    default: return false;
  }
}

/**
 * The score's segment, which picks the follow-up question.
 * @param {Kind} kind
 * @param {number} score
 * @returns {'detractor' | 'passive' | 'promoter'}
 */
export function segment(kind, score) {
  const [detractor, promoter] = EDGES[kind];
  // CES: 1 is very easy, so the good end is low; turning the scale round makes it like the others.
  const turn = detractor < promoter ? 1 : -1;
  return score * turn <= detractor * turn ? 'detractor' : score * turn >= promoter * turn ? 'promoter' : 'passive';
}

/**
 * Does this call trigger the survey (condition 1)? `event` is the tracked event's name, or the
 * feature of a `feature()` call; null for a page view, which checks the surveys without an event.
 * @param {Survey} survey
 * @param {{ event: string | null, feature?: string | null, path: string, state: SurveyState }} call
 */
export function triggered(survey, { event, feature, path, state }) {
  const trigger = survey.trigger || {};
  if (trigger.event ? event !== trigger.event && feature !== trigger.event : event !== null) return false;
  if (trigger.url && !globMatch(trigger.url, path)) return false;
  return state.pageViews >= (trigger.min_page_views || 0) && state.sessions >= (trigger.min_sessions || 0);
}

/**
 * Why the survey may not be shown now (conditions 2–5), or '' when it may.
 * @param {Survey} survey
 * @param {{ state: SurveyState, now: number, userKey: string, user?: Record<string, unknown> | null,
 *   account?: Record<string, unknown> | null, cooldownDays?: number | null }} context
 */
export function ineligible(survey, { state, now, userKey, user, account, cooldownDays }) {
  const filters = survey.filters || {};
  if (!(filters.user || []).every((f) => filterHolds(f, user))) return 'user filter';
  if (!(filters.account || []).every((f) => filterHolds(f, account))) return 'account filter';
  if (!sampled(survey.id, userKey, survey.sample_percent)) return 'not sampled';
  // Without a frequency, until_answered: the backend's default for a definition that gives none.
  const frequency = survey.frequency || { mode: 'until_answered' };
  const shown = state.shown[survey.id];
  const seen = frequency.mode === 'once' ? shown
    : frequency.mode === 'recurring' ? shown && now - shown < (frequency.every_days || 0) * DAY_MS
    : state.answered[survey.id];
  if (seen) return 'frequency';
  if (state.lastShown && now - state.lastShown < (cooldownDays == null ? DEFAULT_COOLDOWN_DAYS : cooldownDays) * DAY_MS) return 'cooldown';
  if ((state.snoozed[survey.id] || 0) > now) return 'snoozed';
  return '';
}

/**
 * Counts a page view or track call: a new session after 30 minutes without one.
 * @param {SurveyState} state
 * @param {number} time
 * @param {boolean} pageView
 */
export function countActivity(state, time, pageView) {
  if (!state.lastSeen || time - state.lastSeen > SESSION_GAP_MS) state.sessions++;
  state.lastSeen = Math.max(state.lastSeen, time);
  if (pageView) state.pageViews++;
}
