// Account: one customer in full. Every request starts at once (Promise.all over settled
// promises): the account with its current health (components, drivers), the score history and
// the band thresholds, weekly activity (users, seats, features × weeks), the responses and their
// analysis, the alerts with their notes, and the audit trail (only asked for when the role may
// read it; otherwise a line says why). A section whose request fails says so; the page still shows.
import { h, replace } from '../dom.js';
import { t, locale } from '../i18n.js';
import { fmt } from '../format.js';
import { band, change, empty } from '../components/ui.js';
import { lineChart, barChart, BAND_COLORS } from '../components/chart.js';
import { heatmap } from '../components/heatmap.js';
import { changeDrivers, componentName, scoreDrivers } from '../components/drivers.js';
import './account/messages.js';

const BASE = '/console';
const HISTORY_DAYS = 180;
const KINDS = ['nps', 'csat', 'ces', 'thumbs', 'emoji'];

/** @param {import('../main.js').PageContext} ctx */
export default async function render(ctx) {
  const id = ctx.params.id;
  const signal = ctx.signal;
  const from = new Date(Date.now() - HISTORY_DAYS * 86400000).toISOString().slice(0, 10);
  const get = (/** @type {string} */ path, /** @type {Record<string, any>} */ params = {}) => ctx.api.get(path, params, signal);
  const enc = encodeURIComponent(id);
  const mayAudit = ctx.can('audit:read');
  // The slowest answer (activity) is asked first; topic names only rename topic ids, so the page
  // does not wait for them (the browser has six connections per host: the rest queue behind).
  const names = get('/v1/insights/config');
  names.catch(() => null);
  const [activity, account, history, config, responses, verbatims, alerts, audit] = await Promise.allSettled([
    get(`/v1/accounts/${enc}/activity`, { weeks: 12 }),
    get(`/v1/accounts/${enc}`),
    get(`/v1/accounts/${enc}/health`, { from }),
    get('/v1/health/config'),
    get(`/v1/accounts/${enc}/responses`, { limit: 200 }),
    get('/v1/insights/verbatims', { account: id, limit: 200 }),
    get('/v1/alerts', { account_id: id, limit: 100 }),
    mayAudit ? get('/v1/audit', { account_id: id, limit: 100 }) : Promise.resolve(null),
  ]);
  if (signal.aborted) return;
  if (account.status === 'rejected') throw account.reason;
  const data = account.value;
  const health = data.health || {};
  const name = health.name || data.traits?.name || data.account_id;
  ctx.title(name);

  /** @type {Map<string, string>} */
  const topicNames = new Map();

  replace(ctx.root,
    h('p', { class: 'crumbs' }, h('a', { href: `${BASE}/accounts`, 'data-link': '' }, `← ${t('account.back')}`)),
    header(name, data, health),
    section('history', t('account.history'), () => historySection(history, config, health)),
    section('why', t('account.why'), () => whySection(health)),
    section('usage', t('account.usage'), () => usageSection(activity)),
    section('ratings', t('account.ratings'), () => ratingsSection(responses, verbatims, topicNames)),
    section('alerts', t('account.alerts'), () => alertsSection(alerts, id)),
    section('traits', t('account.traits'), () => traitsSection(data)),
    section('audit', t('account.audit'), () => auditSection(audit, mayAudit, ctx)));
  ctx.ready();
  names.then((insights) => {
    if (signal.aborted || !insights) return;
    for (const topic of insights.topics || []) topicNames.set(topic.id, topic.names?.[ctx.locale] || topic.names?.en || topic.id);
    for (const el of ctx.root.querySelectorAll('[data-topics]')) el.textContent = (el.getAttribute('data-topics') || '').split(' ').filter(Boolean).map((x) => topicNames.get(x) || x).join(', ');
  }, () => {});
}

/** A titled section; a part that throws while rendering says so instead of breaking the page. */
function section(/** @type {string} */ key, /** @type {string} */ title, /** @type {() => any} */ body) {
  const headingId = `account-${key}`;
  let content;
  try {
    content = body();
  } catch (error) {
    content = sectionError(error);
  }
  return h('section', { class: `account-section account-${key}`, 'aria-labelledby': headingId, 'data-section': key }, h('h2', { id: headingId }, title), content);
}

const sectionError = (/** @type {any} */ error) => h('p', { class: 'error', role: 'alert' }, t('account.sectionError', { message: error?.message || String(error) }));

/** The value of a settled request, or throws its error (the section shows it). */
function value(/** @type {PromiseSettledResult<any>} */ result) {
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

function header(/** @type {string} */ name, /** @type {any} */ data, /** @type {any} */ health) {
  const renewal = health.renewal_date
    ? [fmt.date(health.renewal_date), ' ', h('span', { class: 'muted' }, `(${health.days_to_renewal >= 0 ? t('account.renewalIn', { count: health.days_to_renewal }) : t('account.renewalPast', { count: -health.days_to_renewal })})`)]
    : '–';
  const kpi = (/** @type {string} */ key, /** @type {string} */ label, /** @type {any} */ content) => h('div', { class: 'kpi', 'data-kpi': key }, h('span', { class: 'label' }, label), h('span', { class: 'value' }, content));
  return h('header', { class: 'account-head' },
    h('h1', null, name),
    h('p', { class: 'muted' }, h('code', null, data.account_id),
      health.as_of ? [' · ', t('account.asOf', { date: fmt.date(health.as_of) })] : null,
      health.confidence ? [' · ', t('account.confidence', { value: t(`account.confidence.${health.confidence}`) })] : null),
    health.score === undefined || health.score === null ? h('p', { class: 'hint' }, t('account.notScored')) : null,
    h('div', { class: 'kpis' },
      kpi('score', t('account.score'), fmt.score(health.score)),
      kpi('band', t('account.band'), band(health.band)),
      kpi('change', t('account.change'), change(health.change)),
      kpi('plan', t('account.plan'), health.plan || data.traits?.plan || '–'),
      kpi('mrr', t('account.mrr'), fmt.money(health.mrr ?? data.traits?.mrr)),
      kpi('csm', t('account.csm'), health.csm || data.traits?.csm || '–'),
      kpi('renewal', t('account.renewal'), renewal)));
}

function historySection(/** @type {PromiseSettledResult<any>} */ history, /** @type {PromiseSettledResult<any>} */ config, /** @type {any} */ health) {
  const snapshots = value(history).snapshots || [];
  const thresholds = config.status === 'fulfilled'
    ? [{ value: config.value.green_at, label: t('account.threshold.green', { value: fmt.number(config.value.green_at) }), color: BAND_COLORS.green },
      { value: config.value.yellow_at, label: t('account.threshold.yellow', { value: fmt.number(config.value.yellow_at) }), color: BAND_COLORS.yellow }]
    : [];
  if (!snapshots.length) return empty(t('account.notScored'));
  const chart = lineChart({
    title: t('account.historyChart'),
    x: snapshots.map((/** @type {any} */ s) => s.day),
    series: [{ label: t('account.score'), values: snapshots.map((/** @type {any} */ s) => s.score) }],
    yRange: [0, 100],
    thresholds,
    format: (v) => fmt.score(v),
  });
  chart.setAttribute('data-points', String(snapshots.length));
  return [snapshots.length === 1 ? h('p', { class: 'hint' }, t('account.historyOne', { date: fmt.date(snapshots[0].day) })) : null, chart];
}

function whySection(/** @type {any} */ health) {
  const components = (health.components || []).map((/** @type {any} */ c) => {
    const points = typeof c.contribution === 'number' ? c.contribution : (c.weight || 0) * (c.normalised || 0);
    return { ...c, points, max: (c.weight || 0) * 100 };
  }).sort((/** @type {any} */ a, /** @type {any} */ b) => (b.max - b.points) - (a.max - a.points) || b.max - a.max);
  // The API writes drivers in English; other locales get the same drivers written from the
  // components (components/drivers.js, held to the API's by test/browser/drivers.test.mjs).
  const drivers = locale() === 'en' || !(health.components || []).length ? (health.drivers || []) : scoreDrivers(health.components);
  const changes = changeDrivers(health.change_drivers || []);
  return [
    components.length ? [
      h('p', null, t('account.whyIntro')),
      h('ul', { class: 'why-list' }, components.map((/** @type {any} */ c) => h('li', { 'data-component': c.name, 'data-points': String(c.points) },
        t(c.points < (c.weight || 0) * (c.normalised || 0) - 0.05 ? 'account.whyPenalised' : 'account.whySentence', { component: componentName(c.name), points: fmt.number(c.points, 1), value: fmt.number(c.normalised, 1), weight: fmt.percent(c.weight, 1), missing: fmt.number(Math.max(0, c.max - c.points), 1) })))),
      barChart({
        title: t('account.whyChart'),
        categories: components.map((/** @type {any} */ c) => componentName(c.name)),
        series: [{ label: t('account.points'), values: components.map((/** @type {any} */ c) => Math.round(c.points * 10) / 10) }, { label: t('account.maxPoints'), values: components.map((/** @type {any} */ c) => Math.round(c.max * 10) / 10), color: '#9ca3af' }],
        format: (v) => fmt.number(v, 1),
      }),
    ] : empty(t('account.notScored')),
    drivers.length ? [h('h3', null, t('account.drivers')), h('ul', { class: 'drivers' }, drivers.map((/** @type {any} */ d) => h('li', null, driverText(d))))] : null,
    h('h3', null, t('account.changeDrivers')),
    changes.length ? h('ul', { class: 'drivers change-drivers' }, changes.map((/** @type {any} */ d) => h('li', null, driverText(d)))) : h('p', { class: 'muted' }, t('account.noChangeDrivers')),
  ];
}

/** A driver is a sentence from the API (or an object with one): always a text node. */
const driverText = (/** @type {any} */ d) => (typeof d === 'string' ? d : d?.text || d?.message || JSON.stringify(d));

function usageSection(/** @type {PromiseSettledResult<any>} */ activity) {
  const data = value(activity);
  const weeks = data.weeks || [];
  const features = (data.features || []).filter((/** @type {any} */ f) => f.weeks.some((/** @type {number} */ v) => v > 0));
  const columns = weeks.map((/** @type {any} */ w) => fmt.day(w.week));
  return [
    features.length
      ? heatmap({ caption: t('account.heatmap'), corner: t('account.feature'), columns, rows: features.map((/** @type {any} */ f) => ({ label: f.feature, values: f.weeks })), legend: t('account.heatLegend') })
      : empty(t('account.noUsage')),
    weeks.length ? lineChart({
      title: t('account.activeUsers'),
      x: weeks.map((/** @type {any} */ w) => w.week),
      series: [{ label: t('account.activeSeries'), values: weeks.map((/** @type {any} */ w) => w.active_users) }, { label: t('account.seatsSeries'), values: weeks.map((/** @type {any} */ w) => w.seats), dash: [6, 4] }],
      format: (v) => fmt.number(v),
      height: 200,
      pointTicks: true,
    }) : null,
  ];
}

function ratingsSection(/** @type {PromiseSettledResult<any>} */ responsesResult, /** @type {PromiseSettledResult<any>} */ verbatimsResult, /** @type {Map<string, string>} */ topicNames) {
  const responses = value(responsesResult).responses || [];
  if (!responses.length) return empty(t('account.noResponses'));
  /** @type {Map<string, any>} */
  const analysis = new Map();
  if (verbatimsResult.status === 'fulfilled') for (const v of verbatimsResult.value.verbatims || []) analysis.set(v.response_id, v);
  const charts = KINDS.map((kind) => {
    const rows = responses.filter((/** @type {any} */ r) => r.kind === kind && r.score !== null && r.responded_at).slice().sort((/** @type {any} */ a, /** @type {any} */ b) => (a.responded_at < b.responded_at ? -1 : 1));
    if (!rows.length) return null;
    const label = t(`account.kind.${kind}`);
    return lineChart({ title: t('account.ratingsChart', { kind: label }), x: rows.map((/** @type {any} */ r) => r.responded_at), series: [{ label, values: rows.map((/** @type {any} */ r) => r.score) }], xLabel: (iso) => fmt.day(iso.slice(0, 10)), height: 160, format: (v) => fmt.number(v, 1) });
  }).filter(Boolean);
  const comments = responses.filter((/** @type {any} */ r) => r.comment);
  return [
    h('div', { class: 'rating-charts' }, charts),
    h('h3', null, t('account.comments', { count: comments.length })),
    comments.length ? h('ul', { class: 'comments' }, comments.map((/** @type {any} */ r) => comment(r, analysis.get(r.response_id), topicNames))) : empty(t('account.noComments')),
  ];
}

function comment(/** @type {any} */ r, /** @type {any} */ a, /** @type {Map<string, string>} */ topicNames) {
  const facts = [
    h('span', { class: 'badge' }, t(`account.kind.${r.kind}`) === `account.kind.${r.kind}` ? String(r.kind) : t(`account.kind.${r.kind}`)),
    h('span', null, t('account.scoreOf', { score: fmt.number(r.score, 1) })),
    h('time', { datetime: r.responded_at }, fmt.date(r.responded_at)),
  ];
  if (a?.locale) facts.push(h('span', null, `${t('account.locale')}: ${a.locale}`));
  const analysed = a && a.analysed;
  return h('li', { class: 'comment', 'data-response': r.response_id },
    h('p', { class: 'facts' }, facts.flatMap((f, i) => (i ? [' · ', f] : [f]))),
    h('blockquote', { class: 'verbatim' }, r.comment),
    analysed
      ? h('p', { class: 'facts muted' },
        `${t('account.sentiment')}: `, a.sentiment ? t(`account.sentiment.${a.sentiment}`) : '–',
        ' · ', `${t('account.churn')}: `, a.churn_intent ? h('strong', { class: 'churn' }, `⚠ ${t('account.yes')}`) : t('account.no'),
        (a.topics || []).length ? [' · ', `${t('account.topics')}: `, h('span', { 'data-topics': a.topics.join(' ') }, a.topics.map((/** @type {string} */ topic) => topicNames.get(topic) || topic).join(', '))] : null)
      : h('p', { class: 'facts muted' }, t('account.notAnalysed')));
}

function alertsSection(/** @type {PromiseSettledResult<any>} */ result, /** @type {string} */ accountId) {
  const alerts = value(result).alerts || [];
  const inbox = h('p', null, h('a', { href: `${BASE}/alerts?account_id=${encodeURIComponent(accountId)}`, 'data-link': '' }, t('account.inbox')));
  if (!alerts.length) return [empty(t('account.noAlerts')), inbox];
  return [
    h('ul', { class: 'alerts-list' }, alerts.map((/** @type {any} */ a) => h('li', { class: 'alert-item', 'data-alert': String(a.id) },
      h('h3', null, h('a', { href: `${BASE}/alerts?account_id=${encodeURIComponent(accountId)}&alert=${a.id}`, 'data-link': '' }, t('account.alertTitle', { id: a.id, kind: a.kind ? t(`account.kind.${a.kind}`) : '', score: fmt.number(a.score, 1) }))),
      h('p', { class: 'facts' },
        h('span', { class: `badge status-${a.status}` }, t(`account.status.${a.status}`)), ' · ',
        a.assignee ? t('account.assignee', { who: a.assignee }) : t('account.unassigned'), ' · ',
        t('account.opened', { when: fmt.dateTime(a.opened_at) }),
        (a.reasons || []).length ? [' · ', (a.reasons || []).map((/** @type {string} */ r) => t(`account.reason.${r}`)).join(', ')] : null),
      a.comment ? h('blockquote', { class: 'verbatim' }, a.comment) : null,
      h('h4', null, t('account.notes')),
      (a.notes || []).length
        ? h('ul', { class: 'notes' }, a.notes.map((/** @type {any} */ n) => h('li', null, h('p', { class: 'muted' }, t('account.noteBy', { who: n.author || '–', when: fmt.dateTime(n.at) })), h('p', { class: 'note-text' }, n.text || ''))))
        : h('p', { class: 'muted' }, t('account.noNotes'))))),
    inbox,
  ];
}

function traitsSection(/** @type {any} */ data) {
  const traits = Object.entries(data.traits || {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return [
    traits.length ? h('dl', { class: 'traits' }, traits.map(([key, v]) => [h('dt', null, key), h('dd', null, v === null || v === undefined ? '–' : typeof v === 'object' ? JSON.stringify(v) : String(v))])) : empty(t('account.noTraits')),
    h('p', { class: 'muted' }, t('account.firstSeen', { date: fmt.dateTime(data.first_seen_at) }), ' · ', t('account.lastSeen', { date: fmt.dateTime(data.last_seen_at) })),
  ];
}

/** An audit action in the reader's language (account.action.<code>); the code itself when unknown. */
const actionLabel = (/** @type {string} */ action) => {
  const key = `account.action.${action}`;
  const text = t(key);
  return text === key ? action : text;
};

function auditSection(/** @type {PromiseSettledResult<any>} */ result, /** @type {boolean} */ mayAudit, /** @type {import('../main.js').PageContext} */ ctx) {
  if (!mayAudit) return h('p', { class: 'muted', 'data-denied': 'audit:read' }, t('account.auditDenied', { role: t(`role.${ctx.project.role}`) }));
  const entries = value(result)?.entries || [];
  if (!entries.length) return empty(t('account.noAudit'));
  return h('table', { class: 'grid audit' },
    h('caption', { class: 'sr-only' }, t('account.audit')),
    h('thead', null, h('tr', null, [t('account.auditWhen'), t('account.auditWho'), t('account.auditWhat'), t('account.auditDetails')].map((label) => h('th', { scope: 'col' }, label)))),
    h('tbody', null, entries.map((/** @type {any} */ e) => h('tr', null,
      h('th', { scope: 'row' }, h('time', { datetime: e.at }, fmt.dateTime(e.at))),
      h('td', null, e.actor_label || e.actor_kind),
      h('td', { 'data-action': e.action }, h('span', { class: 'action', title: e.action }, actionLabel(e.action)), ' ', h('code', { class: 'muted' }, e.action), ' ', h('span', { class: 'muted' }, `${e.object_type} ${e.object_id ?? ''}`)),
      h('td', null, Object.entries(e.details || {}).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('; '))))));
}
