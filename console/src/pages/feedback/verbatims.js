// The Feedback page's comments: filters (topic, sentiment, churn intent, score range, account,
// locale) kept in the URL, cursor paging, every comment shown as text only with its score, kind,
// date, locale, topics, sentiment and churn intent.
import { h, replace } from '../../dom.js';
import { t } from '../../i18n.js';
import { fmt } from '../../format.js';
import { empty, failure, field, select } from '../../components/ui.js';

const SENTIMENTS = ['positive', 'negative', 'neutral', 'mixed'];
const LOCALES = ['en', 'zh-CN', 'zh-TW'];
/** The URL keys this part owns. */
export const VERBATIM_KEYS = ['topic', 'sentiment', 'churn_intent', 'score_min', 'score_max', 'account', 'locale', 'cursor', 'vpage'];
const PAGE_SIZE = 20;

/**
 * @param {import('../../main.js').PageContext} ctx
 * @param {() => Record<string, string>} filters  the page's filters for comments (kind, period start, the group drilled into)
 * @param {() => AbortController} controllerFor
 */
export function verbatimsSection(ctx, filters, controllerFor) {
  /** @type {(changes: Record<string, any>) => void} */
  let changed = () => {};
  /** @type {Map<string, string>} */
  let topicNames = new Map();
  /** @type {AbortController|null} */
  let controller = null;
  const q = ctx.query;

  const topic = h('select', { id: 'vb-topic', name: 'topic' }, h('option', { value: '' }, t('feedback.filter.any')), q.get('topic') ? h('option', { value: q.get('topic'), selected: true }, q.get('topic')) : null);
  const sentiment = select([['', t('feedback.filter.any')], ...SENTIMENTS.map((s) => /** @type {[string, string]} */ ([s, t(`feedback.sentiment.${s}`)]))], q.get('sentiment') || '', { id: 'vb-sentiment', name: 'sentiment' });
  const churn = select([['', t('feedback.filter.any')], ['true', t('feedback.yes')], ['false', t('feedback.no')]], q.get('churn_intent') || '', { id: 'vb-churn', name: 'churn_intent' });
  const scoreMin = h('input', { id: 'vb-score-min', name: 'score_min', type: 'number', step: 'any', inputmode: 'decimal', value: q.get('score_min') || '', class: 'short' });
  const scoreMax = h('input', { id: 'vb-score-max', name: 'score_max', type: 'number', step: 'any', inputmode: 'decimal', value: q.get('score_max') || '', class: 'short' });
  const account = h('input', { id: 'vb-account', name: 'account', type: 'text', value: q.get('account') || '', autocomplete: 'off', spellcheck: 'false' });
  const currentLocale = q.get('locale') || '';
  const locale = select([['', t('feedback.filter.any')], ...(LOCALES.includes(currentLocale) || !currentLocale ? LOCALES : [...LOCALES, currentLocale]).map((l) => /** @type {[string, string]} */ ([l, l]))], currentLocale, { id: 'vb-locale', name: 'locale' });
  const controls = { topic, sentiment, churn_intent: churn, score_min: scoreMin, score_max: scoreMax, account, locale };

  const list = h('div', { class: 'verbatim-list', 'data-section': 'verbatims' });
  const heading = h('h2', { id: 'fb-verbatims', tabindex: '-1' }, t('feedback.verbatims'));
  const form = h('form', { class: 'toolbar verbatim-filters', role: 'search', 'aria-label': t('feedback.verbatims'), onsubmit: (/** @type {Event} */ e) => {
    e.preventDefault();
    /** @type {Record<string, any>} */
    const changes = { cursor: null, vpage: null };
    for (const [key, el] of Object.entries(controls)) changes[key] = /** @type {HTMLInputElement} */ (el).value.trim();
    changed(changes);
  } },
  field(t('feedback.filter.topic'), topic),
  field(t('feedback.filter.sentiment'), sentiment),
  field(t('feedback.filter.churn'), churn),
  field(t('feedback.filter.scoreMin'), scoreMin),
  field(t('feedback.filter.scoreMax'), scoreMax),
  field(t('feedback.filter.account'), account),
  field(t('feedback.filter.locale'), locale),
  h('div', { class: 'buttons' },
    h('button', { type: 'submit', class: 'primary' }, t('feedback.filter.apply')),
    h('button', { type: 'button', onclick: () => {
      for (const el of Object.values(controls)) /** @type {HTMLInputElement} */ (el).value = '';
      changed(Object.fromEntries(VERBATIM_KEYS.map((k) => [k, null])));
    } }, t('feedback.filter.clear'))));

  const element = h('section', { 'aria-labelledby': 'fb-verbatims' }, heading, form, list);

  /** Loads the comments for the URL's filters; false when a newer load replaced this one. */
  async function load(/** @type {URLSearchParams} */ query) {
    controller?.abort();
    const c = (controller = controllerFor());
    const page = Math.max(1, Number(query.get('vpage')) || 1);
    /** @type {Record<string, any>} */
    const params = { ...filters(), limit: PAGE_SIZE };
    for (const key of VERBATIM_KEYS) if (key !== 'vpage' && query.get(key)) params[key] = query.get(key);
    try {
      const data = await ctx.api.get('/v1/insights/verbatims', params, c.signal);
      if (c.signal.aborted) return false;
      const rows = data.verbatims || [];
      replace(list,
        h('p', { class: 'muted', 'data-count': String(rows.length) }, t('feedback.page', { page }), ' · ', t('feedback.shown', { count: rows.length })),
        rows.length ? h('ul', { class: 'verbatims' }, rows.map((/** @type {any} */ v) => item(v, topicNames))) : empty(t('feedback.noVerbatims')),
        h('div', { class: 'pager' },
          page > 1 || query.get('cursor') ? h('button', { type: 'button', onclick: () => { changed({ cursor: null, vpage: null }); heading.focus(); } }, t('feedback.first')) : null,
          data.next_cursor ? h('button', { type: 'button', 'data-next': '', onclick: () => { changed({ cursor: data.next_cursor, vpage: page + 1 }); heading.focus(); } }, t('feedback.next')) : null));
      return true;
    } catch (error) {
      if (c.signal.aborted) return false;
      replace(list, failure(error));
      return true;
    }
  }

  return {
    element,
    load,
    onChange(/** @type {(changes: Record<string, any>) => void} */ callback) { changed = callback; },
    /** The topic filter's options from the topics the page loaded (names in the page's language). */
    setTopics(/** @type {any[]} */ topics) {
      topicNames = new Map(topics.map((x) => [x.topic, x.name]));
      const current = topic.value || q.get('topic') || '';
      replace(topic, h('option', { value: '' }, t('feedback.filter.any')), topics.map((x) => h('option', { value: x.topic, selected: x.topic === current }, x.name)), current && !topicNames.has(current) ? h('option', { value: current, selected: true }, current) : null);
      for (const li of list.querySelectorAll('[data-topics]')) {
        const ids = (li.getAttribute('data-topics') || '').split(' ').filter(Boolean);
        li.textContent = ids.map((id) => topicNames.get(id) || id).join(', ');
      }
    },
  };
}

function item(/** @type {any} */ v, /** @type {Map<string, string>} */ topicNames) {
  const facts = [
    h('span', { class: 'badge' }, t(`feedback.kind.${v.kind}`) === `feedback.kind.${v.kind}` ? String(v.kind) : t(`feedback.kind.${v.kind}`)),
    h('span', null, t('feedback.verbatimScore', { score: fmt.number(v.score, 1) })),
    v.segment ? h('span', null, t(`feedback.segment.${v.segment}`)) : null,
    h('time', { datetime: v.responded_at }, fmt.date(v.responded_at)),
    v.locale ? h('span', null, `${t('feedback.filter.locale')}: ${v.locale}`) : null,
    v.account_id ? h('span', null, `${t('feedback.filter.account')}: `, h('a', { href: `/console/accounts/${encodeURIComponent(v.account_id)}`, 'data-link': '' }, v.account_id)) : null,
  ].filter(Boolean);
  const topics = v.topics || [];
  return h('li', { class: 'verbatim-item', 'data-response': v.response_id, 'data-locale': v.locale || '', 'data-churn': String(!!v.churn_intent), 'data-sentiment': v.sentiment || '' },
    h('p', { class: 'facts' }, facts.flatMap((f, i) => (i ? [' · ', f] : [f]))),
    h('blockquote', { class: 'verbatim', lang: v.language && v.language.startsWith('zh') ? v.language : null }, v.comment || ''),
    v.analysed
      ? h('p', { class: 'facts muted' },
        `${t('feedback.filter.sentiment')}: `, v.sentiment ? t(`feedback.sentiment.${v.sentiment}`) : '–',
        v.churn_intent ? [' · ', h('strong', { class: 'churn' }, t('feedback.churnYes'))] : null,
        topics.length ? [' · ', `${t('feedback.filter.topic')}: `, h('span', { 'data-topics': topics.join(' ') }, topics.map((/** @type {string} */ x) => topicNames.get(x) || x).join(', '))] : null)
      : h('p', { class: 'facts muted' }, t('feedback.notAnalysed')));
}
