// Feedback: how customers rate the product and what they say. The rating kind, the period and the
// trend's granularity, the drill-down dimension and the comment filters all live in the URL, so
// every view can be reloaded and shared. Changing a filter re-fetches in place (focus stays on the
// control): the ratings, the change against the previous period, the drill-down, the topics and
// the terms in one parallel round, the comments in another.
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { fmt } from '../format.js';
import { empty, failure, field, select } from '../components/ui.js';
import { lineChart, scatterChart } from '../components/chart.js';
import { savedViews } from '../components/views.js';
import { verbatimsSection } from './feedback/verbatims.js';
import './feedback/messages.js';
import { noteText } from './feedback/notes.js';

const KINDS = ['nps', 'csat', 'ces'];
const PERIODS = ['week', 'month'];
const RANGES = [30, 60, 90, 180, 365];
const GROUPS = ['plan', 'feature', 'locale', 'page', 'band', 'survey'];
const DAY_MS = 86400000;

/** The page's filters from the URL, with defaults. */
export function readFilters(/** @type {URLSearchParams} */ q) {
  const kind = KINDS.includes(q.get('kind') || '') ? /** @type {string} */ (q.get('kind')) : 'nps';
  const period = PERIODS.includes(q.get('period') || '') ? /** @type {string} */ (q.get('period')) : 'week';
  const days = RANGES.includes(Number(q.get('days'))) ? Number(q.get('days')) : 90;
  const groupBy = GROUPS.includes(q.get('group_by') || '') ? /** @type {string} */ (q.get('group_by')) : 'plan';
  // A drill-down into one group: `drill=plan:pro` filters every question to that group.
  const raw = q.get('drill') || '';
  const cut = raw.indexOf(':');
  const drill = cut > 0 && GROUPS.includes(raw.slice(0, cut)) && raw.length > cut + 1 ? { key: raw.slice(0, cut), value: raw.slice(cut + 1) } : null;
  const compare = q.get('compare') === 'rest' ? 'rest' : 'previous';
  return { kind, period, days, groupBy, drill, compare, from: new Date(Date.now() - (days - 1) * DAY_MS).toISOString().slice(0, 10) };
}

/** The drill-down as API filters; topics, terms and comments have no `page` filter. */
export function drillParams(/** @type {{ key: string, value: string } | null} */ drill, /** @type {boolean} */ ratings) {
  if (!drill || (!ratings && drill.key === 'page')) return {};
  return { [drill.key]: drill.value };
}

/** A metric in its unit: NPS points, % satisfied, CES mean. */
export function metric(/** @type {string} */ kind, /** @type {number|null|undefined} */ v) {
  if (v === null || v === undefined) return '–';
  if (kind === 'csat') return fmt.percent(v / 100, 1);
  return fmt.number(v, kind === 'ces' ? 2 : 1);
}
const signedMetric = (/** @type {string} */ kind, /** @type {number|null|undefined} */ v) => (v === null || v === undefined ? '–' : kind === 'ces' ? fmt.signed(v, 2) : fmt.signed(v, 1));

/** @param {import('../main.js').PageContext} ctx */
export default async function render(ctx) {
  ctx.title(t('feedback.title'));
  let filters = readFilters(ctx.query);
  const kindLabel = () => t(`feedback.kind.${filters.kind}`);

  const headline = h('div', { class: 'feedback-headline', 'data-section': 'headline', 'aria-live': 'polite' });
  const trend = h('div', { 'data-section': 'trend' });
  const drill = h('div', { 'data-section': 'drill' });
  const topics = h('div', { 'data-section': 'topics' });
  const terms = h('div', { 'data-section': 'terms' });
  const note = h('p', { class: 'hint', id: 'feedback-metric-note' });

  /** @type {AbortController|null} */
  let mainController = null;
  const controllerFor = () => {
    const c = new AbortController();
    ctx.signal.addEventListener('abort', () => c.abort(), { once: true });
    return c;
  };

  const verbatims = verbatimsSection(ctx, () => ({ kind: filters.kind, from: filters.from, ...drillParams(filters.drill, false) }), controllerFor);

  /** Says which group the page is drilled into, with a way back to everyone. */
  const drilled = h('div', { class: 'drilled', 'data-section': 'drilled' });
  function showDrill() {
    const d = filters.drill;
    if (!d) return replace(drilled);
    replace(drilled, h('p', { class: 'drill-chip' },
      t('feedback.drilled', { group: t(`feedback.group.${d.key}`), value: d.value }),
      d.key === 'page' ? [' ', h('span', { class: 'muted' }, t('feedback.drilledPage'))] : null,
      ' ', h('button', { type: 'button', class: 'link', 'data-undrill': '', onclick: () => { refresh({ drill: null, cursor: null, vpage: null }); kind.focus(); } }, t('feedback.undrill'))));
  }

  async function loadMain() {
    mainController?.abort();
    const controller = (mainController = controllerFor());
    const signal = controller.signal;
    const base = { kind: filters.kind, from: filters.from, ...drillParams(filters.drill, true) };
    const text = { kind: filters.kind, from: filters.from, ...drillParams(filters.drill, false) };
    const get = (/** @type {string} */ path, /** @type {Record<string, any>} */ params) => ctx.api.get(path, params, signal);
    showDrill();
    const [overall, series, change, groups, groupChange, topicList, termList] = await Promise.allSettled([
      get('/v1/insights/ratings', { ...base, period: 'all' }),
      get('/v1/insights/ratings', { ...base, period: filters.period }),
      get('/v1/insights/ratings/change', base),
      get('/v1/insights/ratings', { ...base, period: 'all', group_by: filters.groupBy }),
      get('/v1/insights/ratings/change', { ...base, group_by: filters.groupBy, compare: filters.compare }),
      get('/v1/insights/topics', { ...text, lang: ctx.locale }),
      get('/v1/insights/terms', { ...text, limit: 15 }),
    ]);
    if (signal.aborted) return false;
    note.textContent = t(`feedback.metricNote.${filters.kind}`);
    fill(headline, () => headlineView(filters.kind, kindLabel(), value(overall), value(change)));
    fill(trend, () => trendView(filters, kindLabel(), value(series)));
    fill(drill, () => drillView(filters, kindLabel(), value(groups), value(groupChange), (/** @type {string} */ group) => refresh({ drill: `${filters.groupBy}:${group}`, cursor: null, vpage: null })));
    fill(topics, () => topicsView(value(topicList)));
    fill(terms, () => termsView(value(termList)));
    if (topicList.status === 'fulfilled') verbatims.setTopics(topicList.value.topics || []);
    return true;
  }

  /** Re-fetch in place after a filter changed: the page is not ready until the new data shows. */
  async function refresh(/** @type {Record<string, any>} */ changes, /** @type {{ main?: boolean, comments?: boolean }} */ which = { main: true, comments: true }) {
    ctx.setQuery(changes);
    views.dispatchEvent(new Event('cx:sync'));
    filters = readFilters(new URLSearchParams(location.search));
    document.body.removeAttribute('data-ready');
    const done = await Promise.all([which.main ? loadMain() : true, which.comments ? verbatims.load(new URLSearchParams(location.search)) : true]);
    if (done.every(Boolean)) {
      ctx.ready();
      ctx.announce(t('feedback.filtersChanged'));
    }
  }
  verbatims.onChange((/** @type {Record<string, any>} */ changes) => refresh(changes, { comments: true }));

  const views = savedViews(ctx, 'feedback', { exclude: ['cursor', 'vpage'] });
  const kind = select(KINDS.map((k) => [k, t(`feedback.kind.${k}`)]), filters.kind, { id: 'feedback-kind', 'aria-describedby': 'feedback-metric-note', onchange: (/** @type {Event} */ e) => refresh({ kind: /** @type {HTMLSelectElement} */ (e.target).value, cursor: null }) });
  const period = select(PERIODS.map((p) => [p, t(`feedback.period.${p}`)]), filters.period, { id: 'feedback-period', onchange: (/** @type {Event} */ e) => refresh({ period: /** @type {HTMLSelectElement} */ (e.target).value }, { main: true }) });
  const range = select(RANGES.map((d) => [String(d), t('feedback.range.days', { count: d })]), String(filters.days), { id: 'feedback-days', onchange: (/** @type {Event} */ e) => refresh({ days: /** @type {HTMLSelectElement} */ (e.target).value, cursor: null }) });
  const compare = select([['previous', t('feedback.compare.previous')], ['rest', t('feedback.compare.rest')]], filters.compare, { id: 'feedback-compare', 'aria-describedby': 'feedback-compare-hint', onchange: (/** @type {Event} */ e) => refresh({ compare: /** @type {HTMLSelectElement} */ (e.target).value }, { main: true }) });
  const groupBy = select(GROUPS.map((g) => [g, t(`feedback.group.${g}`)]), filters.groupBy, { id: 'feedback-group', onchange: (/** @type {Event} */ e) => refresh({ group_by: /** @type {HTMLSelectElement} */ (e.target).value }, { main: true }) });

  replace(ctx.root,
    h('h1', null, t('feedback.title')),
    h('div', { class: 'toolbar', role: 'group', 'aria-label': t('feedback.title') }, field(t('feedback.kind'), kind), field(t('feedback.range'), range), field(t('feedback.period'), period), views),
    note,
    drilled,
    headline,
    h('section', { 'aria-labelledby': 'fb-trend' }, h('h2', { id: 'fb-trend' }, t('feedback.trend')), trend),
    h('section', { 'aria-labelledby': 'fb-drill' }, h('h2', { id: 'fb-drill' }, t('feedback.drill')), h('div', { class: 'toolbar' }, field(t('feedback.groupBy'), groupBy), field(t('feedback.compare'), compare)), h('p', { class: 'hint', id: 'feedback-compare-hint' }, t('feedback.compareHint')), drill),
    h('section', { 'aria-labelledby': 'fb-topics' }, h('h2', { id: 'fb-topics' }, t('feedback.topics')), topics),
    h('section', { 'aria-labelledby': 'fb-terms' }, h('h2', { id: 'fb-terms' }, t('feedback.terms')), terms),
    verbatims.element);
  const done = await Promise.all([loadMain(), verbatims.load(ctx.query)]);
  if (done.every(Boolean)) ctx.ready();
}

/** The value of a settled request, or throws its error (the part shows it). */
function value(/** @type {PromiseSettledResult<any>} */ result) {
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

function fill(/** @type {HTMLElement} */ el, /** @type {() => any} */ build) {
  try {
    replace(el, build());
  } catch (error) {
    replace(el, failure(error));
  }
}

function significance(/** @type {any} */ row, /** @type {number | undefined} */ minN) {
  const note = noteText(row, minN);
  if (row.significant) return h('span', { class: 'sig sig-yes', 'data-significant': 'true' }, h('span', { 'aria-hidden': 'true' }, '★ '), t('feedback.significant'), ' ', h('span', { class: 'muted' }, `(${t('feedback.significantWhy', { q: fmt.number(row.q, 3) })})`));
  return h('span', { class: 'sig sig-no', 'data-significant': 'false' }, t('feedback.notSignificant'), note ? [' ', h('span', { class: 'muted', 'data-note': row.note_code || '' }, t('feedback.noteParen', { note }))] : null);
}

function headlineView(/** @type {string} */ kind, /** @type {string} */ label, /** @type {any} */ overall, /** @type {any} */ change) {
  const row = overall.rows?.[0];
  const title = t('feedback.headline', { kind: label, from: fmt.date(overall.from), to: fmt.date(overall.to) });
  if (!row || !row.n) return h('div', { class: 'kpi' }, h('span', { class: 'label' }, title), h('p', { class: 'empty' }, t('feedback.noRatings')));
  const c = change.rows?.[0];
  return h('div', { class: 'kpis' },
    h('div', { class: 'kpi', 'data-metric': String(row.metric), 'data-low': String(row.low), 'data-high': String(row.high), 'data-n': String(row.n), 'data-from': overall.from, 'data-to': overall.to },
      h('span', { class: 'label' }, title),
      h('span', { class: 'value' }, metric(kind, row.metric)),
      h('span', { class: 'muted' }, t('feedback.interval', { low: metric(kind, row.low), high: metric(kind, row.high) }), ' · ', t('feedback.n', { count: row.n }))),
    c ? h('div', { class: 'kpi', 'data-change': '' },
      h('span', { class: 'label' }, t('feedback.change', { from: fmt.date(change.compare_from), to: fmt.date(change.compare_to) })),
      c.difference === null || c.difference === undefined
        ? null
        : h('span', { class: 'value' }, h('span', { 'aria-hidden': 'true' }, c.difference > 0 ? '↑ ' : c.difference < 0 ? '↓ ' : ''), signedMetric(kind, c.difference)),
      c.difference === null || c.difference === undefined ? null : h('p', { class: 'muted' }, t('feedback.changeSentence', { previous: metric(kind, c.previous_metric), current: metric(kind, c.current_metric), difference: signedMetric(kind, c.difference), low: signedMetric(kind, c.low), high: signedMetric(kind, c.high) })),
      h('p', null, significance(c, change.min_n))) : null);
}

const monthLabel = (/** @type {string} */ iso) => new Intl.DateTimeFormat(document.documentElement.lang || 'en', { year: 'numeric', month: 'short', timeZone: 'UTC' }).format(new Date(iso.slice(0, 10) + 'T00:00:00Z'));

function trendView(/** @type {any} */ filters, /** @type {string} */ label, /** @type {any} */ data) {
  const rows = data.rows || [];
  if (!rows.length) return empty(t('feedback.noRatings'));
  const chart = lineChart({
    title: t('feedback.trendChart', { kind: label, period: t(`feedback.period.${filters.period}`) }),
    x: rows.map((/** @type {any} */ r) => r.period),
    series: [{ label, values: rows.map((/** @type {any} */ r) => r.metric), low: rows.map((/** @type {any} */ r) => r.low), high: rows.map((/** @type {any} */ r) => r.high) }],
    format: (v) => metric(filters.kind, v),
    xLabel: filters.period === 'month' ? monthLabel : undefined,
    pointTicks: filters.period === 'month',
    height: 240,
  });
  chart.setAttribute('data-periods', String(rows.length));
  return chart;
}

const groupValue = (/** @type {any} */ groups, /** @type {string} */ key) => (groups?.[key] === null || groups?.[key] === undefined || groups?.[key] === '' ? t('feedback.unknown') : String(groups[key]));

function drillView(/** @type {any} */ filters, /** @type {string} */ label, /** @type {any} */ data, /** @type {any} */ change, /** @type {(group: string) => void} */ into) {
  const rows = data.rows || [];
  if (!rows.length) return empty(t('feedback.noGroups'));
  const key = filters.groupBy;
  /** @type {Map<string, any>} */
  const changes = new Map((change.rows || []).map((/** @type {any} */ r) => [JSON.stringify(r.groups?.[key] ?? null), r]));
  const k = filters.kind;
  return h('table', { class: 'grid drill', 'data-group-by': key },
    h('caption', { class: 'sr-only' }, t('feedback.drillCaption', { kind: label, group: t(`feedback.group.${key}`) })),
    h('thead', null, h('tr', null, [t(`feedback.group.${key}`), t('feedback.col.metric'), t('feedback.col.interval'), t('feedback.col.n'), t('feedback.col.previous'), filters.compare === 'rest' ? t('feedback.col.restChange') : null, t(filters.compare === 'rest' ? 'feedback.col.differenceRest' : 'feedback.col.difference'), t('feedback.col.significance')].filter(Boolean).map((text, i, all) => h('th', { scope: 'col', class: i > 0 && i < all.length - 1 ? 'num' : null }, text)))),
    h('tbody', null, rows.map((/** @type {any} */ r) => {
      const c = changes.get(JSON.stringify(r.groups?.[key] ?? null));
      return h('tr', { 'data-group': r.groups?.[key] ?? '', 'data-metric': String(r.metric), 'data-n': String(r.n) },
        h('th', { scope: 'row' }, r.groups?.[key] === null || r.groups?.[key] === undefined || r.groups?.[key] === '' || filters.drill
          ? groupValue(r.groups, key)
          : h('button', { type: 'button', class: 'link', 'data-drill': String(r.groups[key]), 'aria-label': t('feedback.drillInto', { group: t(`feedback.group.${key}`), value: String(r.groups[key]) }), onclick: () => into(String(r.groups[key])) }, groupValue(r.groups, key))),
        h('td', { class: 'num' }, metric(k, r.metric)),
        h('td', { class: 'num' }, `${metric(k, r.low)} – ${metric(k, r.high)}`),
        h('td', { class: 'num' }, fmt.number(r.n)),
        h('td', { class: 'num' }, c ? metric(k, c.previous_metric) : '–'),
        filters.compare === 'rest' ? h('td', { class: 'num' }, c ? signedMetric(k, c.rest_change) : '–') : null,
        h('td', { class: 'num', 'data-difference': c && c.difference !== null ? String(c.difference) : '' }, c ? signedMetric(k, c.difference) : '–'),
        h('td', null, c ? significance(c, change.min_n) : '–'));
    })));
}

function topicsView(/** @type {any} */ data) {
  const list = (data.topics || []).filter((/** @type {any} */ x) => x.comments > 0).sort((/** @type {any} */ a, /** @type {any} */ b) => (a.nps_impact ?? 0) - (b.nps_impact ?? 0) || b.comments - a.comments);
  const intro = h('p', { class: 'hint' }, t('feedback.topicsIntro', { pending: data.pending_comments ? t('feedback.pending', { count: data.pending_comments }) : '' }));
  if (!list.length) return [intro, empty(t('feedback.noTopics'))];
  const rated = list.filter((/** @type {any} */ x) => x.nps_impact !== null && x.nps_impact !== undefined);
  return [
    intro,
    rated.length ? scatterChart({ title: t('feedback.matrix'), points: rated.map((/** @type {any} */ x) => ({ x: Math.round(x.share * 1000) / 10, y: Math.round(x.nps_impact * 10) / 10, label: x.name })), xLabel: t('feedback.share'), yLabel: t('feedback.impact'), formatX: (v) => fmt.percent(v / 100, 0), formatY: (v) => fmt.number(v, 1) }) : null,
    h('table', { class: 'grid topics' },
      h('caption', { class: 'sr-only' }, t('feedback.topics')),
      h('thead', null, h('tr', null, [t('feedback.topic'), t('feedback.comments'), t('feedback.share'), t('feedback.col.metric'), t('feedback.impact'), t('feedback.quadrant')].map((text, i) => h('th', { scope: 'col', class: i > 0 && i < 5 ? 'num' : null }, text)))),
      h('tbody', null, list.map((/** @type {any} */ x) => h('tr', { 'data-topic': x.topic },
        h('th', { scope: 'row' }, x.name),
        h('td', { class: 'num' }, fmt.number(x.comments)),
        h('td', { class: 'num' }, fmt.percent(x.share, 1)),
        h('td', { class: 'num' }, x.metric === null || x.metric === undefined ? '–' : `${metric(x.kind, x.metric)} (${metric(x.kind, x.metric_low)} – ${metric(x.kind, x.metric_high)})`),
        h('td', { class: 'num' }, x.nps_impact === null || x.nps_impact === undefined ? '–' : fmt.signed(x.nps_impact, 1)),
        h('td', null, x.quadrant ? h('span', { class: `badge quadrant-${x.quadrant}` }, t(`feedback.quadrant.${x.quadrant}`)) : '–'))))),
  ];
}

function termsView(/** @type {any} */ data) {
  const table = (/** @type {string} */ title, /** @type {any[]} */ list, /** @type {string} */ cls) => h('div', { class: `terms ${cls}` },
    h('h3', null, title),
    list.length ? h('table', { class: 'grid' },
      h('caption', { class: 'sr-only' }, title),
      h('thead', null, h('tr', null, [t('feedback.term'), t('feedback.z'), t('feedback.countD'), t('feedback.countP')].map((text, i) => h('th', { scope: 'col', class: i ? 'num' : null }, text)))),
      h('tbody', null, list.map((/** @type {any} */ x) => h('tr', null, h('th', { scope: 'row', lang: /[\u4e00-\u9fff]/.test(x.term) ? 'zh' : null }, x.term), h('td', { class: 'num' }, fmt.number(x.z, 2)), h('td', { class: 'num' }, fmt.number(x.count_detractors)), h('td', { class: 'num' }, fmt.number(x.count_promoters))))))
      : empty(t('feedback.noTerms')));
  return h('div', { class: 'terms-pair' },
    table(t('feedback.detractorTerms', { count: data.detractor_comments ?? 0 }), data.detractor_terms || [], 'terms-detractor'),
    table(t('feedback.promoterTerms', { count: data.promoter_comments ?? 0 }), data.promoter_terms || [], 'terms-promoter'));
}
