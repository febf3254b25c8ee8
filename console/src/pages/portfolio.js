// Portfolio: the whole book of business at a glance, from one request (GET /v1/portfolio):
// accounts and MRR per band now and over time, renewals coming up with their health, the week's
// biggest drops and why, open alerts by age. Every number links to the Accounts or Alerts page
// with the filter that shows the accounts behind it.
import { h, replace } from '../dom.js';
import { t, addMessages } from '../i18n.js';
import { fmt } from '../format.js';
import { band, change, empty } from '../components/ui.js';
import { stackedChart, barChart, BAND_COLORS } from '../components/chart.js';
import { changeDrivers } from '../components/drivers.js';

addMessages({
  en: {
    'portfolio.title': 'Portfolio', 'portfolio.asOf': 'Health as of {date}', 'portfolio.range': 'History', 'portfolio.days': 'Last {days} days',
    'portfolio.kpis': 'Totals', 'portfolio.accounts': 'Accounts', 'portfolio.mrr': 'MRR', 'portfolio.share': '{share} of accounts', 'portfolio.bandMrr': 'MRR {mrr}',
    'portfolio.overTime': 'Accounts by band over time', 'portfolio.mrrByBand': 'MRR by band', 'portfolio.mrrSeries': 'MRR',
    'portfolio.renewals': 'Renewals', 'portfolio.renewalsCaption': 'Renewals in the next 30, 60 and 90 days by band (accounts and MRR)', 'portfolio.within': 'Next {days} days',
    'portfolio.window': 'Window', 'portfolio.all': 'All', 'portfolio.cell': '{accounts} · {mrr}', 'portfolio.cellLabel': '{accounts} accounts, MRR {mrr}',
    'portfolio.soonest': 'Soonest renewals', 'portfolio.soonestCaption': 'The soonest renewals in the next 90 days', 'portfolio.allRenewals': 'All renewals in the next 90 days',
    'portfolio.col.account': 'Account', 'portfolio.col.band': 'Band', 'portfolio.col.score': 'Score', 'portfolio.col.days': 'Days to renewal', 'portfolio.col.date': 'Renewal date',
    'portfolio.col.mrr': 'MRR', 'portfolio.col.change': 'Change in 7 days', 'portfolio.col.why': 'Why', 'portfolio.since': 'Since {date}', 'portfolio.shortHistory': 'Health history starts on {date}; the chart fills in as the daily scores come in.',
    'portfolio.noRenewals': 'No renewal in the next 90 days.', 'portfolio.drops': 'Biggest drops this week', 'portfolio.dropsCaption': 'The accounts whose score fell most over the last 7 days, with what changed',
    'portfolio.noDrops': 'No score fell this week (or there is less than a week of history).',
    'portfolio.alerts': 'Open alerts by age', 'portfolio.alertsCaption': 'Open and in-progress alerts by how long they have been open', 'portfolio.col.age': 'Age',
    'portfolio.col.open': 'Open', 'portfolio.col.inProgress': 'In progress', 'portfolio.alertsTotal': 'Total', 'portfolio.toInbox': 'Open the alerts inbox',
    'portfolio.age.<1d': 'Less than a day', 'portfolio.age.1-7d': '1–7 days', 'portfolio.age.7-30d': '7–30 days', 'portfolio.age.>30d': 'Over 30 days',
    'portfolio.empty': 'No account has a health score yet. Send events and run a health refresh (POST /v1/health/refresh, or `cxloop score`).',
  },
  'zh-CN': {
    'portfolio.title': '客户总览', 'portfolio.asOf': '健康度截至 {date}', 'portfolio.range': '历史范围', 'portfolio.days': '最近 {days} 天',
    'portfolio.kpis': '总计', 'portfolio.accounts': '客户数', 'portfolio.mrr': '月经常性收入', 'portfolio.share': '占客户 {share}', 'portfolio.bandMrr': '月收入 {mrr}',
    'portfolio.overTime': '各健康等级客户数趋势', 'portfolio.mrrByBand': '各健康等级月收入', 'portfolio.mrrSeries': '月收入',
    'portfolio.renewals': '续约', 'portfolio.renewalsCaption': '未来 30、60、90 天内续约的客户（按健康等级，客户数和月收入）', 'portfolio.within': '未来 {days} 天',
    'portfolio.window': '时间窗', 'portfolio.all': '全部', 'portfolio.cell': '{accounts} · {mrr}', 'portfolio.cellLabel': '{accounts} 个客户，月收入 {mrr}',
    'portfolio.soonest': '即将续约', 'portfolio.soonestCaption': '未来 90 天内最先续约的客户', 'portfolio.allRenewals': '查看未来 90 天内的全部续约',
    'portfolio.col.account': '客户', 'portfolio.col.band': '等级', 'portfolio.col.score': '健康分', 'portfolio.col.days': '距续约天数', 'portfolio.col.date': '续约日期',
    'portfolio.col.mrr': '月收入', 'portfolio.col.change': '7 天变化', 'portfolio.col.why': '原因', 'portfolio.since': '自 {date} 起', 'portfolio.shortHistory': '健康度历史从 {date} 开始；每日评分产生后，图表会逐步完整。',
    'portfolio.noRenewals': '未来 90 天内没有续约。', 'portfolio.drops': '本周下降最多', 'portfolio.dropsCaption': '最近 7 天健康分下降最多的客户及其变化原因',
    'portfolio.noDrops': '本周没有客户的健康分下降（或历史数据不足一周）。',
    'portfolio.alerts': '未处理预警（按时长）', 'portfolio.alertsCaption': '待处理和处理中的预警，按已开启时长分组', 'portfolio.col.age': '时长',
    'portfolio.col.open': '待处理', 'portfolio.col.inProgress': '处理中', 'portfolio.alertsTotal': '合计', 'portfolio.toInbox': '打开预警收件箱',
    'portfolio.age.<1d': '不到 1 天', 'portfolio.age.1-7d': '1–7 天', 'portfolio.age.7-30d': '7–30 天', 'portfolio.age.>30d': '超过 30 天',
    'portfolio.empty': '还没有客户的健康分。请先发送事件并刷新健康度（POST /v1/health/refresh 或 `cxloop score`）。',
  },
  'zh-TW': {
    'portfolio.title': '客戶總覽', 'portfolio.asOf': '健康度截至 {date}', 'portfolio.range': '歷史範圍', 'portfolio.days': '最近 {days} 天',
    'portfolio.kpis': '總計', 'portfolio.accounts': '客戶數', 'portfolio.mrr': '月經常性收入', 'portfolio.share': '佔客戶 {share}', 'portfolio.bandMrr': '月收入 {mrr}',
    'portfolio.overTime': '各健康等級客戶數趨勢', 'portfolio.mrrByBand': '各健康等級月收入', 'portfolio.mrrSeries': '月收入',
    'portfolio.renewals': '續約', 'portfolio.renewalsCaption': '未來 30、60、90 天內續約的客戶（依健康等級，客戶數和月收入）', 'portfolio.within': '未來 {days} 天',
    'portfolio.window': '時間窗', 'portfolio.all': '全部', 'portfolio.cell': '{accounts} · {mrr}', 'portfolio.cellLabel': '{accounts} 個客戶，月收入 {mrr}',
    'portfolio.soonest': '即將續約', 'portfolio.soonestCaption': '未來 90 天內最先續約的客戶', 'portfolio.allRenewals': '檢視未來 90 天內的全部續約',
    'portfolio.col.account': '客戶', 'portfolio.col.band': '等級', 'portfolio.col.score': '健康分', 'portfolio.col.days': '距續約天數', 'portfolio.col.date': '續約日期',
    'portfolio.col.mrr': '月收入', 'portfolio.col.change': '7 天變化', 'portfolio.col.why': '原因', 'portfolio.since': '自 {date} 起', 'portfolio.shortHistory': '健康度歷史從 {date} 開始；每日評分產生後，圖表會逐步完整。',
    'portfolio.noRenewals': '未來 90 天內沒有續約。', 'portfolio.drops': '本週下降最多', 'portfolio.dropsCaption': '最近 7 天健康分下降最多的客戶及其變化原因',
    'portfolio.noDrops': '本週沒有客戶的健康分下降（或歷史資料不足一週）。',
    'portfolio.alerts': '未處理警示（依時長）', 'portfolio.alertsCaption': '待處理和處理中的警示，依已開啟時長分組', 'portfolio.col.age': '時長',
    'portfolio.col.open': '待處理', 'portfolio.col.inProgress': '處理中', 'portfolio.alertsTotal': '合計', 'portfolio.toInbox': '開啟警示收件匣',
    'portfolio.age.<1d': '不到 1 天', 'portfolio.age.1-7d': '1–7 天', 'portfolio.age.7-30d': '7–30 天', 'portfolio.age.>30d': '超過 30 天',
    'portfolio.empty': '還沒有客戶的健康分。請先傳送事件並重新整理健康度（POST /v1/health/refresh 或 `cxloop score`）。',
  },
});

const BANDS = /** @type {const} */ (['green', 'yellow', 'red']);
const RANGES = ['30', '90', '180', '365'];
const BASE = '/console';

/** A link into another console page with its filters in the query. */
function link(/** @type {string} */ path, /** @type {Record<string, any>} */ query, /** @type {any[]} */ ...children) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null && value !== '') search.append(key, String(value));
  const text = search.toString();
  return h('a', { href: `${BASE}${path}${text ? `?${text}` : ''}`, 'data-link': '' }, ...children);
}

const accountLink = (/** @type {any} */ row) => h('a', { href: `${BASE}/accounts/${encodeURIComponent(row.account_id)}`, 'data-link': '' }, row.name || row.account_id);
const byBand = (/** @type {any[]} */ rows, /** @type {string} */ name) => rows.find((r) => r.band === name) || { band: name, accounts: 0, mrr: 0 };

function kpis(/** @type {any} */ current) {
  const total = current.accounts || 0;
  return h('section', { class: 'kpis portfolio-kpis', 'aria-label': t('portfolio.kpis') },
    h('div', { class: 'kpi', 'data-kpi': 'accounts' }, h('span', { class: 'label' }, t('portfolio.accounts')), link('/accounts', {}, h('span', { class: 'value' }, fmt.number(total)))),
    h('div', { class: 'kpi', 'data-kpi': 'mrr' }, h('span', { class: 'label' }, t('portfolio.mrr')), h('span', { class: 'value' }, fmt.money(current.mrr))),
    BANDS.map((name) => {
      const row = byBand(current.by_band, name);
      return h('div', { class: `kpi kpi-band kpi-${name}`, 'data-kpi': name },
        h('span', { class: 'label' }, band(name)),
        link('/accounts', { band: name }, h('span', { class: 'value' }, fmt.number(row.accounts))),
        h('span', { class: 'share' }, t('portfolio.share', { share: fmt.percent(total ? row.accounts / total : 0) })),
        h('span', { class: 'share' }, t('portfolio.bandMrr', { mrr: fmt.money(row.mrr) })));
    }));
}

function renewalsTable(/** @type {any[]} */ renewals) {
  const cell = (/** @type {{accounts: number, mrr: number}} */ r, /** @type {Record<string, any>} */ query) => h('td', { class: 'num' },
    r.accounts ? link('/accounts', { ...query, sort: 'renewal' }, h('span', { 'aria-hidden': 'true' }, t('portfolio.cell', { accounts: fmt.number(r.accounts), mrr: fmt.money(r.mrr) })), h('span', { class: 'sr-only' }, t('portfolio.cellLabel', { accounts: fmt.number(r.accounts), mrr: fmt.money(r.mrr) })))
      : t('portfolio.cell', { accounts: fmt.number(0), mrr: fmt.money(0) }));
  return h('table', { class: 'grid renewals' },
    h('caption', { class: 'sr-only' }, t('portfolio.renewalsCaption')),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, t('portfolio.window')), h('th', { scope: 'col', class: 'num' }, t('portfolio.all')), BANDS.map((name) => h('th', { scope: 'col', class: 'num' }, band(name))))),
    h('tbody', null, renewals.map((r) => h('tr', { 'data-within': r.within_days },
      h('th', { scope: 'row' }, t('portfolio.within', { days: r.within_days })),
      cell(r, { renewal_within: r.within_days }),
      BANDS.map((name) => cell(byBand(r.by_band, name), { renewal_within: r.within_days, band: name }))))));
}

function soonest(/** @type {any[]} */ rows) {
  if (!rows.length) return empty(t('portfolio.noRenewals'));
  return h('table', { class: 'grid soonest' },
    h('caption', { class: 'sr-only' }, t('portfolio.soonestCaption')),
    h('thead', null, h('tr', null, [t('portfolio.col.account'), t('portfolio.col.band'), t('portfolio.col.score'), t('portfolio.col.days'), t('portfolio.col.date'), t('portfolio.col.mrr')].map((label, i) => h('th', { scope: 'col', class: i === 2 || i === 3 || i === 5 ? 'num' : null }, label)))),
    h('tbody', null, rows.map((row) => h('tr', { 'data-key': row.account_id },
      h('th', { scope: 'row' }, accountLink(row)),
      h('td', null, band(row.band)),
      h('td', { class: 'num' }, fmt.score(row.score)),
      h('td', { class: 'num' }, fmt.number(row.days_to_renewal)),
      h('td', null, h('time', { datetime: row.renewal_date }, fmt.date(row.renewal_date))),
      h('td', { class: 'num' }, fmt.money(row.mrr))))));
}

function drops(/** @type {any[]} */ rows) {
  if (!rows.length) return empty(t('portfolio.noDrops'));
  return h('table', { class: 'grid drops' },
    h('caption', { class: 'sr-only' }, t('portfolio.dropsCaption')),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, t('portfolio.col.account')), h('th', { scope: 'col' }, t('portfolio.col.band')), h('th', { scope: 'col', class: 'num' }, t('portfolio.col.score')), h('th', { scope: 'col', class: 'num' }, t('portfolio.col.change')), h('th', { scope: 'col' }, t('portfolio.col.why')))),
    h('tbody', null, rows.map((row) => h('tr', { 'data-key': row.account_id },
      h('th', { scope: 'row' }, accountLink(row)),
      h('td', null, band(row.band)),
      h('td', { class: 'num' }, fmt.score(row.score)),
      h('td', { class: 'num drop', title: t('portfolio.since', { date: fmt.date(row.since) }) }, change(row.drop ?? row.change)),
      h('td', { class: 'why' }, row.change_drivers?.length ? h('ul', { class: 'drivers' }, changeDrivers(row.change_drivers).map((d) => h('li', null, d))) : '–')))));
}

function alertsByAge(/** @type {any[]} */ buckets) {
  const open = buckets.reduce((s, b) => s + (b.open || 0), 0);
  const progress = buckets.reduce((s, b) => s + (b.in_progress || 0), 0);
  const count = (/** @type {number} */ n, /** @type {string} */ status) => (n ? link('/alerts', { status }, fmt.number(n)) : fmt.number(n));
  return h('table', { class: 'grid alerts-age' },
    h('caption', { class: 'sr-only' }, t('portfolio.alertsCaption')),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, t('portfolio.col.age')), h('th', { scope: 'col', class: 'num' }, t('portfolio.col.open')), h('th', { scope: 'col', class: 'num' }, t('portfolio.col.inProgress')))),
    h('tbody', null, buckets.map((b) => h('tr', { 'data-bucket': b.bucket },
      h('th', { scope: 'row' }, t(`portfolio.age.${b.bucket}`)),
      h('td', { class: 'num' }, count(b.open, 'open')),
      h('td', { class: 'num' }, count(b.in_progress, 'acknowledged'))))),
    h('tfoot', null, h('tr', { 'data-bucket': 'total' }, h('th', { scope: 'row' }, t('portfolio.alertsTotal')), h('td', { class: 'num' }, count(open, 'open')), h('td', { class: 'num' }, count(progress, 'acknowledged')))));
}

/** @param {import('../main.js').PageContext} ctx */
export default async function render(ctx) {
  ctx.title(t('portfolio.title'));
  const days = RANGES.includes(ctx.query.get('days') || '') ? /** @type {string} */ (ctx.query.get('days')) : '90';
  const data = await ctx.api.get('/v1/portfolio', { days }, ctx.signal);
  if (ctx.signal.aborted) return;

  const range = h('select', { id: 'portfolio-days', onchange: (/** @type {Event} */ e) => ctx.setQuery({ days: /** @type {HTMLSelectElement} */ (e.target).value }, { render: true }) },
    RANGES.map((d) => h('option', { value: d, selected: d === days }, t('portfolio.days', { days: d }))));
  const head = h('div', { class: 'page-head' },
    h('h1', null, t('portfolio.title')),
    h('p', { class: 'muted' }, t('portfolio.asOf', { date: fmt.date(data.as_of) })),
    h('div', { class: 'field portfolio-range' }, h('label', { for: 'portfolio-days' }, t('portfolio.range')), range));

  if (!data.current.accounts) {
    replace(ctx.root, head, empty(t('portfolio.empty')));
    return ctx.ready();
  }

  const x = data.bands.map((/** @type {any} */ r) => r.day);
  // Bottom-up: red first, so the accounts at risk sit on the axis where their size reads directly.
  const stacked = stackedChart({
    title: t('portfolio.overTime'),
    x,
    series: ['red', 'yellow', 'green'].map((name) => ({ label: t(`band.${name}`), values: data.bands.map((/** @type {any} */ r) => r[name]), color: BAND_COLORS[/** @type {'red'} */ (name)] })),
    format: (v) => fmt.number(v),
  });
  const mrr = barChart({
    title: t('portfolio.mrrByBand'),
    categories: BANDS.map((name) => t(`band.${name}`)),
    series: [{ label: t('portfolio.mrrSeries'), values: BANDS.map((name) => byBand(data.current.by_band, name).mrr), color: '#0072B2' }],
    format: (v) => fmt.money(v),
  });

  replace(ctx.root,
    head,
    kpis(data.current),
    h('div', { class: 'portfolio-charts' }, h('section', { class: 'card' }, stacked, x.length < 2 ? h('p', { class: 'hint' }, t('portfolio.shortHistory', { date: fmt.date(x[0] || data.as_of) })) : null), h('section', { class: 'card' }, mrr)),
    h('section', { class: 'portfolio-renewals', 'aria-labelledby': 'portfolio-renewals' },
      h('h2', { id: 'portfolio-renewals' }, t('portfolio.renewals')),
      renewalsTable(data.renewals),
      h('h3', null, t('portfolio.soonest')),
      soonest(data.upcoming_renewals),
      h('p', null, link('/accounts', { renewal_within: 90, sort: 'renewal' }, t('portfolio.allRenewals')))),
    h('div', { class: 'portfolio-lower' },
      h('section', { class: 'portfolio-drops', 'aria-labelledby': 'portfolio-drops' }, h('h2', { id: 'portfolio-drops' }, t('portfolio.drops')), drops(data.drops)),
      h('section', { class: 'portfolio-alerts', 'aria-labelledby': 'portfolio-alerts' }, h('h2', { id: 'portfolio-alerts' }, t('portfolio.alerts')), alertsByAge(data.alerts_by_age),
        h('p', null, link('/alerts', { status: 'open' }, t('portfolio.toInbox'))))));
  ctx.ready();
}
