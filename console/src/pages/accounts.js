// Accounts: the portfolio as a table, filtered, sorted and paged by the server (GET /v1/accounts),
// so it stays fast with thousands of accounts: one request per filter change, the previous one
// aborted. Every filter lives in the URL (reload and share), saved views keep them under a name,
// and the CSV export downloads the same filtered rows (GET /v1/accounts/export).
import { h, replace, uid } from '../dom.js';
import { t, addMessages } from '../i18n.js';
import { fmt } from '../format.js';
import { band, change, failure, empty, table, guarded } from '../components/ui.js';
import { savedViews } from '../components/views.js';

addMessages({
  en: {
    'accounts.title': 'Accounts', 'accounts.total': { one: '{n} account', other: '{n} accounts' }, 'accounts.filters': 'Filters',
    'accounts.search': 'Search', 'accounts.searchHint': 'Name or account id', 'accounts.bands': 'Band', 'accounts.plan': 'Plan', 'accounts.selected': { one: '{n} selected', other: '{n} selected' }, 'accounts.anyValue': 'Any',
    'accounts.facetCount': { one: '{n} account', other: '{n} accounts' }, 'accounts.noValues': 'No values yet.', 'accounts.traitNames': 'Trait names',
    'accounts.csm': 'CSM owner', 'accounts.minScore': 'Score from', 'accounts.maxScore': 'Score to', 'accounts.renewal': 'Renewal', 'accounts.renewalAny': 'Any time',
    'accounts.renewalWithin': 'In the next {days} days', 'accounts.renewalCustom': 'Custom…', 'accounts.renewalDays': 'Renewal within (days)',
    'accounts.trait': 'Trait', 'accounts.traitHint': 'name=value, e.g. region=emea', 'accounts.traitInvalid': 'Write the trait filter as name=value (e.g. region=emea).',
    'accounts.pageSize': 'Rows per page', 'accounts.clear': 'Clear filters', 'accounts.apply': 'Apply', 'accounts.export': 'Export CSV', 'accounts.exporting': 'Exporting…', 'accounts.exported': 'CSV downloaded: {file}.',
    'accounts.caption': 'Accounts with their health, MRR, owner and renewal', 'accounts.col.name': 'Account', 'accounts.col.band': 'Band', 'accounts.col.score': 'Score',
    'accounts.col.change': 'Change', 'accounts.col.mrr': 'MRR', 'accounts.col.plan': 'Plan', 'accounts.col.csm': 'CSM', 'accounts.col.renewal': 'Renewal', 'accounts.col.seats': 'Seats',
    'accounts.inDays': { one: 'in {n} day', other: 'in {n} days' }, 'accounts.daysAgo': { one: '{n} day ago', other: '{n} days ago' }, 'accounts.today': 'today',
    'accounts.none': 'No account matches these filters.', 'accounts.previous': 'Previous', 'accounts.next': 'Next',
    'accounts.paging': 'Pages', 'accounts.shown': 'Showing {from}–{to} of {total}',
  },
  'zh-CN': {
    'accounts.title': '客户', 'accounts.total': { one: '{n} 个客户', other: '{n} 个客户' }, 'accounts.filters': '筛选',
    'accounts.search': '搜索', 'accounts.searchHint': '名称或客户 ID', 'accounts.bands': '健康等级', 'accounts.plan': '套餐', 'accounts.selected': { one: '已选 {n} 项', other: '已选 {n} 项' }, 'accounts.anyValue': '不限',
    'accounts.facetCount': { one: '{n} 个客户', other: '{n} 个客户' }, 'accounts.noValues': '暂无可选值。', 'accounts.traitNames': '属性名称',
    'accounts.csm': '客户成功负责人', 'accounts.minScore': '最低分', 'accounts.maxScore': '最高分', 'accounts.renewal': '续约', 'accounts.renewalAny': '不限',
    'accounts.renewalWithin': '未来 {days} 天内', 'accounts.renewalCustom': '自定义…', 'accounts.renewalDays': '续约天数以内',
    'accounts.trait': '属性', 'accounts.traitHint': '名称=值，例如 region=emea', 'accounts.traitInvalid': '属性筛选请写成 名称=值（例如 region=emea）。',
    'accounts.pageSize': '每页行数', 'accounts.clear': '清除筛选', 'accounts.apply': '应用', 'accounts.export': '导出 CSV', 'accounts.exporting': '正在导出…', 'accounts.exported': 'CSV 已下载：{file}。',
    'accounts.caption': '客户的健康度、月经常性收入、负责人和续约日期', 'accounts.col.name': '客户', 'accounts.col.band': '等级', 'accounts.col.score': '健康分',
    'accounts.col.change': '变化', 'accounts.col.mrr': '月收入', 'accounts.col.plan': '套餐', 'accounts.col.csm': '负责人', 'accounts.col.renewal': '续约', 'accounts.col.seats': '席位',
    'accounts.inDays': { one: '{n} 天后', other: '{n} 天后' }, 'accounts.daysAgo': { one: '{n} 天前', other: '{n} 天前' }, 'accounts.today': '今天',
    'accounts.none': '没有符合筛选条件的客户。', 'accounts.previous': '上一页', 'accounts.next': '下一页',
    'accounts.paging': '分页', 'accounts.shown': '第 {from}–{to} 个，共 {total} 个',
  },
  'zh-TW': {
    'accounts.title': '客戶', 'accounts.total': { one: '{n} 個客戶', other: '{n} 個客戶' }, 'accounts.filters': '篩選',
    'accounts.search': '搜尋', 'accounts.searchHint': '名稱或客戶 ID', 'accounts.bands': '健康等級', 'accounts.plan': '方案', 'accounts.selected': { one: '已選 {n} 項', other: '已選 {n} 項' }, 'accounts.anyValue': '不限',
    'accounts.facetCount': { one: '{n} 個客戶', other: '{n} 個客戶' }, 'accounts.noValues': '尚無可選值。', 'accounts.traitNames': '屬性名稱',
    'accounts.csm': '客戶成功負責人', 'accounts.minScore': '最低分', 'accounts.maxScore': '最高分', 'accounts.renewal': '續約', 'accounts.renewalAny': '不限',
    'accounts.renewalWithin': '未來 {days} 天內', 'accounts.renewalCustom': '自訂…', 'accounts.renewalDays': '續約天數以內',
    'accounts.trait': '屬性', 'accounts.traitHint': '名稱=值，例如 region=emea', 'accounts.traitInvalid': '屬性篩選請寫成 名稱=值（例如 region=emea）。',
    'accounts.pageSize': '每頁列數', 'accounts.clear': '清除篩選', 'accounts.apply': '套用', 'accounts.export': '匯出 CSV', 'accounts.exporting': '正在匯出…', 'accounts.exported': 'CSV 已下載：{file}。',
    'accounts.caption': '客戶的健康度、月經常性收入、負責人和續約日期', 'accounts.col.name': '客戶', 'accounts.col.band': '等級', 'accounts.col.score': '健康分',
    'accounts.col.change': '變化', 'accounts.col.mrr': '月收入', 'accounts.col.plan': '方案', 'accounts.col.csm': '負責人', 'accounts.col.renewal': '續約', 'accounts.col.seats': '席位',
    'accounts.inDays': { one: '{n} 天後', other: '{n} 天後' }, 'accounts.daysAgo': { one: '{n} 天前', other: '{n} 天前' }, 'accounts.today': '今天',
    'accounts.none': '沒有符合篩選條件的客戶。', 'accounts.previous': '上一頁', 'accounts.next': '下一頁',
    'accounts.paging': '分頁', 'accounts.shown': '第 {from}–{to} 個，共 {total} 個',
  },
});

const BANDS = ['green', 'yellow', 'red'];
const WINDOWS = ['30', '60', '90'];
const SIZES = ['50', '100'];
/** The URL keys this page reads: filters, sort, page size and position. */
const FILTER_KEYS = ['q', 'band', 'plan', 'csm', 'min_score', 'max_score', 'renewal_within', 'trait'];

/** The cursors of the pages before the current one (Previous pops; reset by any filter change). */
let cursorStack = /** @type {string[]} */ ([]);
/** Whether the stack knows every page before this one (not after a reload in the middle). */
let stackKnown = true;
let lastSearch = '';

/** Rows per page: 50 or 100 from the picker; a link may ask for another size (1–200). */
function pageSize(/** @type {URLSearchParams} */ query) {
  const n = Number(query.get('limit') || 50);
  return Number.isInteger(n) && n >= 1 && n <= 200 ? n : 50;
}

/**
 * A multi-select picker: a disclosure (`<details>`, keyboard-operable) holding a fieldset of
 * checkboxes, one per value of the facet with its account count (GET /v1/accounts/facets).
 * Values in the URL that the facets lack (a shared link, a value past the first 200) stay as
 * checked boxes without a count, so the filter never silently drops.
 */
function picker(/** @type {string} */ name, /** @type {string} */ label, /** @type {string[]} */ chosen, /** @type {() => void} */ onChange) {
  const summaryText = h('span', { class: 'picker-state muted' });
  const list = h('div', { class: 'picker-options' });
  const details = /** @type {HTMLDetailsElement} */ (h('details', { class: `picker picker-${name}` },
    h('summary', null, h('span', { class: 'picker-label' }, label), ' ', summaryText),
    h('fieldset', null, h('legend', { class: 'sr-only' }, label), list)));
  // Escape closes the open list and returns focus to its summary (a popover's keyboard contract).
  details.addEventListener('keydown', (/** @type {KeyboardEvent} */ event) => {
    if (event.key !== 'Escape' || !details.open) return;
    event.preventDefault();
    details.open = false;
    /** @type {HTMLElement} */ (details.querySelector('summary')).focus();
  });
  /** @type {HTMLInputElement[]} */
  let boxes = [];
  const state = () => {
    const n = boxes.filter((b) => b.checked).length;
    summaryText.textContent = n ? `· ${t('accounts.selected', { count: n, n: fmt.number(n) })}` : `· ${t('accounts.anyValue')}`;
  };
  function fill(/** @type {{ value: string, accounts: number }[] | null} */ values, /** @type {unknown} */ error = null, /** @type {(() => void) | undefined} */ retry = undefined) {
    const now = boxes.length ? boxes.filter((b) => b.checked).map((b) => b.value) : chosen;
    const known = new Set((values || []).map((v) => v.value));
    const rows = [...(values || []), ...now.filter((v) => !known.has(v)).map((value) => ({ value, accounts: null }))];
    boxes = rows.map((row) => {
      const box = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', name, value: row.value, id: uid(`acc-${name}`), checked: now.includes(row.value) }));
      box.addEventListener('change', () => { state(); onChange(); });
      return box;
    });
    replace(list,
      error ? failure(error, retry) : null,
      !error && !rows.length ? h('p', { class: 'muted' }, t('accounts.noValues')) : null,
      rows.map((row, i) => h('label', { for: boxes[i].id, class: 'check' }, boxes[i], ' ', h('span', { class: 'picker-value' }, row.value),
        row.accounts === null ? null : h('span', { class: 'facet-count muted', 'data-count': String(row.accounts), title: t('accounts.facetCount', { count: row.accounts, n: fmt.number(row.accounts) }) }, ` (${fmt.number(row.accounts)})`))));
    state();
  }
  fill(null);
  return { element: details, fill, values: () => boxes.filter((b) => b.checked).map((b) => b.value) };
}

/** "Renewal" cell: the date and how far away. */
function renewal(/** @type {any} */ row) {
  if (!row.renewal_date) return '–';
  const days = row.days_to_renewal;
  const when = days === 0 ? t('accounts.today') : days > 0 ? t('accounts.inDays', { count: days, n: fmt.number(days) }) : t('accounts.daysAgo', { count: -days, n: fmt.number(-days) });
  return h('span', { class: 'renewal' }, h('time', { datetime: row.renewal_date }, fmt.date(row.renewal_date)), h('span', { class: 'muted renewal-days' }, ` · ${when}`));
}

/** `name=value` or `name:value` → the API's `name:value`; null when malformed. */
export function traitFilter(/** @type {string} */ text) {
  const match = /^\s*([^=:\s][^=:]*?)\s*[=:]\s*(.+?)\s*$/.exec(text);
  return match ? `${match[1]}:${match[2]}` : null;
}

/** Splits a comma-separated input into its values (trait filters may be several). */
const list = (/** @type {string} */ text) => text.split(/[,，]/).map((s) => s.trim()).filter(Boolean);

/** @param {import('../main.js').PageContext} ctx */
export default async function render(ctx) {
  ctx.title(t('accounts.title'));
  const q = ctx.query;
  // A new list (not the one left for an account and come back to): paging starts over; opened
  // in the middle (a reload, a shared link), the pages before are unknown: Previous goes to the first.
  if (location.search !== lastSearch) {
    cursorStack = [];
    stackKnown = !q.get('cursor');
  }

  // ── Controls, filled from the URL ──
  const search = /** @type {HTMLInputElement} */ (h('input', { type: 'search', name: 'q', id: uid('acc-q'), value: q.get('q') || '', placeholder: t('accounts.searchHint'), autocomplete: 'off', maxlength: 200 }));
  const bandBoxes = BANDS.map((name) => /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', name: 'band', value: name, id: uid(`acc-band-${name}`), checked: q.getAll('band').includes(name) })));
  const plan = picker('plan', t('accounts.plan'), q.getAll('plan'), () => apply());
  const csm = picker('csm', t('accounts.csm'), q.getAll('csm'), () => apply());
  const traitList = uid('acc-traits');
  const minScore = /** @type {HTMLInputElement} */ (h('input', { type: 'number', name: 'min_score', id: uid('acc-min'), min: 0, max: 100, step: 1, value: q.get('min_score') || '', class: 'score-input' }));
  const maxScore = /** @type {HTMLInputElement} */ (h('input', { type: 'number', name: 'max_score', id: uid('acc-max'), min: 0, max: 100, step: 1, value: q.get('max_score') || '', class: 'score-input' }));
  const within = q.get('renewal_within') || '';
  const windowValue = within === '' ? '' : WINDOWS.includes(within) ? within : 'custom';
  const renewalSelect = /** @type {HTMLSelectElement} */ (h('select', { name: 'renewal', id: uid('acc-renewal') },
    h('option', { value: '', selected: windowValue === '' }, t('accounts.renewalAny')),
    WINDOWS.map((d) => h('option', { value: d, selected: windowValue === d }, t('accounts.renewalWithin', { days: d }))),
    h('option', { value: 'custom', selected: windowValue === 'custom' }, t('accounts.renewalCustom'))));
  const customDays = /** @type {HTMLInputElement} */ (h('input', { type: 'number', name: 'renewal_days', id: uid('acc-days'), min: 0, max: 3650, step: 1, value: windowValue === 'custom' ? within : '', class: 'score-input' }));
  const customField = h('div', { class: 'field', hidden: windowValue !== 'custom' }, h('label', { for: customDays.id }, t('accounts.renewalDays')), customDays);
  const traitInput = /** @type {HTMLInputElement} */ (h('input', { type: 'text', name: 'trait', id: uid('acc-trait'), value: q.getAll('trait').map((x) => x.replace(':', '=')).join(', '), list: traitList, autocomplete: 'off' }));
  const traitError = h('p', { class: 'field-error', id: `${traitInput.id}-error`, role: 'alert' });
  traitInput.setAttribute('aria-describedby', `${traitInput.id}-hint ${traitError.id}`);
  const limitNow = String(pageSize(q));
  const size = /** @type {HTMLSelectElement} */ (h('select', { name: 'limit', id: uid('acc-size') }, (SIZES.includes(limitNow) ? SIZES : [limitNow, ...SIZES]).map((s) => h('option', { value: s, selected: limitNow === s }, s))));
  // Trait names to start a filter with (`region=` …), from the facets.
  const traitsData = h('datalist', { id: traitList, 'aria-label': t('accounts.traitNames') });
  /** @type {Promise<void>} */
  let facetsLoaded = Promise.resolve();

  /** The facets (plans, CSMs with counts; trait names): fetched once, beside the first page. */
  async function loadFacets() {
    try {
      const facets = await ctx.api.get('/v1/accounts/facets', {}, ctx.signal);
      plan.fill(facets.plans);
      csm.fill(facets.csms);
      replace(traitsData, facets.traits.map((/** @type {string} */ name) => h('option', { value: `${name}=` })));
    } catch (error) {
      if (ctx.signal.aborted) return;
      plan.fill(null, error, loadFacets);
      csm.fill(null, error, loadFacets);
    }
  }

  const totalLine = h('p', { class: 'accounts-total', 'aria-live': 'polite' });
  const results = h('div', { class: 'accounts-results' });
  const pager = h('nav', { class: 'pager', 'aria-label': t('accounts.paging') });
  const exportStatus = h('span', { class: 'muted', 'aria-live': 'polite' });

  /** The filters the controls name, as URL/API values; null when one is malformed. */
  function filters() {
    /** @type {Record<string, any>} */
    const out = {
      q: search.value.trim(),
      band: bandBoxes.filter((b) => b.checked).map((b) => b.value),
      plan: plan.values(),
      csm: csm.values(),
      min_score: minScore.value,
      max_score: maxScore.value,
      renewal_within: renewalSelect.value === 'custom' ? customDays.value : renewalSelect.value,
    };
    const traits = list(traitInput.value);
    const parsed = traits.map(traitFilter);
    traitError.textContent = '';
    traitInput.removeAttribute('aria-invalid');
    if (parsed.some((p) => p === null)) {
      traitError.textContent = t('accounts.traitInvalid');
      traitInput.setAttribute('aria-invalid', 'true');
      return null;
    }
    out.trait = parsed;
    return out;
  }

  /** What the API is asked, from the URL (the single source of truth). */
  function params() {
    const now = new URLSearchParams(location.search);
    /** @type {Record<string, any>} */
    const out = {};
    for (const key of FILTER_KEYS) {
      const values = now.getAll(key).filter(Boolean);
      if (values.length) out[key] = ['band', 'plan', 'csm', 'trait'].includes(key) ? values : values[0];
    }
    if (now.get('sort')) out.sort = now.get('sort');
    return out;
  }

  let inflight = new AbortController();
  ctx.signal.addEventListener('abort', () => inflight.abort());

  async function load() {
    inflight.abort();
    const controller = (inflight = new AbortController());
    document.body.removeAttribute('data-ready');
    results.setAttribute('aria-busy', 'true');
    const now = new URLSearchParams(location.search);
    const limit = pageSize(now);
    try {
      const answer = await ctx.api.get('/v1/accounts', { ...params(), limit, cursor: now.get('cursor') || undefined }, controller.signal);
      if (controller.signal.aborted) return;
      lastSearch = location.search;
      draw(answer, limit);
    } catch (error) {
      if (controller.signal.aborted) return;
      replace(results, failure(error, load));
      replace(totalLine);
      replace(pager);
    }
    results.removeAttribute('aria-busy');
    await facetsLoaded; // the page is ready once its pickers show their values too
    if (controller.signal.aborted) return;
    ctx.ready();
  }

  function draw(/** @type {any} */ answer, /** @type {number} */ limit) {
    const total = answer.total ?? answer.accounts.length;
    totalLine.textContent = t('accounts.total', { count: total, n: fmt.number(total) });
    totalLine.dataset.total = String(total);
    const sort = new URLSearchParams(location.search).get('sort') || 'score';
    const columns = [
      { key: 'name', label: t('accounts.col.name'), sort: 'name', cell: (/** @type {any} */ row) => h('a', { href: `/console/accounts/${encodeURIComponent(row.account_id)}`, 'data-link': '' }, row.name || row.account_id) },
      { key: 'band', label: t('accounts.col.band'), cell: (/** @type {any} */ row) => band(row.band) },
      { key: 'score', label: t('accounts.col.score'), sort: 'score', numeric: true, cell: (/** @type {any} */ row) => fmt.score(row.score) },
      { key: 'change', label: t('accounts.col.change'), sort: 'change', numeric: true, cell: (/** @type {any} */ row) => change(row.change) },
      { key: 'mrr', label: t('accounts.col.mrr'), sort: 'mrr', numeric: true, cell: (/** @type {any} */ row) => fmt.number(row.mrr) },
      { key: 'plan', label: t('accounts.col.plan'), cell: (/** @type {any} */ row) => row.plan || '–' },
      { key: 'csm', label: t('accounts.col.csm'), cell: (/** @type {any} */ row) => row.csm || '–' },
      { key: 'renewal', label: t('accounts.col.renewal'), sort: 'renewal', cell: renewal },
      { key: 'seats', label: t('accounts.col.seats'), numeric: true, cell: (/** @type {any} */ row) => fmt.number(row.seats) },
    ];
    if (!answer.accounts.length) replace(results, empty(t('accounts.none')));
    else {
      replace(results, table({
        caption: t('accounts.caption'),
        sort,
        onSort: (next) => {
          cursorStack = [];
          stackKnown = true;
          ctx.setQuery({ sort: next, cursor: null });
          views.dispatchEvent(new Event('cx:sync'));
          load().then(() => /** @type {HTMLElement|null} */ (results.querySelector(`th button.sort[data-sort="${next.replace('-', '')}"]`))?.focus());
        },
        rowKey: (row) => row.account_id,
        columns,
        rows: answer.accounts,
      }));
      // Mark the sort buttons with their sort key, so focus can come back to the one pressed.
      const keys = columns.filter((c) => c.sort).map((c) => /** @type {string} */ (c.sort));
      results.querySelectorAll('th button.sort').forEach((button, i) => button.setAttribute('data-sort', keys[i]));
    }
    const pageNumber = cursorStack.length + 1;
    const from = (pageNumber - 1) * limit + 1;
    const to = from + answer.accounts.length - 1;
    const previous = h('button', { type: 'button', class: 'pager-previous', disabled: !new URLSearchParams(location.search).get('cursor'), onclick: () => {
      const back = cursorStack.pop();
      if (!cursorStack.length && back === undefined) stackKnown = true;
      ctx.setQuery({ cursor: back || null });
      load().then(() => (previous.isConnected ? previous : /** @type {HTMLElement|null} */ (pager.querySelector('.pager-previous:not([disabled])')) || /** @type {HTMLElement|null} */ (pager.querySelector('.pager-next')))?.focus());
    } }, t('accounts.previous'));
    const next = h('button', { type: 'button', class: 'pager-next', disabled: !answer.next_cursor, onclick: () => {
      cursorStack.push(new URLSearchParams(location.search).get('cursor') || '');
      ctx.setQuery({ cursor: answer.next_cursor });
      load().then(() => /** @type {HTMLElement|null} */ (pager.querySelector('.pager-next:not([disabled])') || pager.querySelector('.pager-previous'))?.focus());
    } }, t('accounts.next'));
    replace(pager, previous,
      h('span', { class: 'pager-position' }, stackKnown && answer.accounts.length ? t('accounts.shown', { from: fmt.number(from), to: fmt.number(to), total: fmt.number(total) }) : ''),
      next);
  }

  /** A filter changed: the URL says so, paging starts over, one request (the last one wins). */
  function apply() {
    const values = filters();
    if (!values) return;
    cursorStack = [];
    stackKnown = true;
    ctx.setQuery({ ...values, cursor: null, limit: size.value === '50' ? null : size.value });
    views.dispatchEvent(new Event('cx:sync'));
    load();
  }

  let timer = 0;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = window.setTimeout(apply, 250);
  });
  for (const control of [...bandBoxes, minScore, maxScore, customDays, traitInput, size]) control.addEventListener('change', apply);
  renewalSelect.addEventListener('change', () => {
    customField.hidden = renewalSelect.value !== 'custom';
    if (renewalSelect.value === 'custom') customDays.focus();
    else apply();
  });

  async function exportCsv() {
    exportButton.setAttribute('aria-busy', 'true');
    exportStatus.textContent = t('accounts.exporting');
    try {
      const response = await ctx.api.raw('/v1/accounts/export', { ...params(), format: 'csv' });
      const blob = await response.blob();
      const file = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') || '')?.[1] || 'cxloop-accounts.csv';
      const url = URL.createObjectURL(blob);
      const link = h('a', { href: url, download: file, class: 'sr-only' });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      exportStatus.textContent = t('accounts.exported', { file });
    } catch (error) {
      exportStatus.textContent = /** @type {any} */ (error).message;
    }
    exportButton.removeAttribute('aria-busy');
  }
  const exportButton = guarded(ctx, 'health:read', { class: 'accounts-export', onclick: exportCsv }, t('accounts.export'));

  const field = (/** @type {string} */ label, /** @type {HTMLElement} */ control, /** @type {string} */ hint = '', /** @type {HTMLElement|null} */ extra = null) => h('div', { class: 'field' },
    h('label', { for: control.id }, label), control, hint ? h('p', { class: 'hint', id: `${control.id}-hint` }, hint) : null, extra);
  if (!traitInput.getAttribute('aria-describedby')) traitInput.setAttribute('aria-describedby', traitError.id);

  const views = savedViews(ctx, 'accounts', { exclude: ['cursor'] });
  facetsLoaded = loadFacets(); // in parallel with the first page
  const form = h('form', { class: 'accounts-filters', role: 'search', 'aria-label': t('accounts.filters'), onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); clearTimeout(timer); apply(); } },
    h('div', { class: 'toolbar' },
      field(t('accounts.search'), search),
      h('fieldset', { class: 'bands' }, h('legend', null, t('accounts.bands')), bandBoxes.map((box) => h('label', { for: box.id, class: 'check' }, box, ' ', band(box.value)))),
      plan.element,
      csm.element,
      field(t('accounts.minScore'), minScore),
      field(t('accounts.maxScore'), maxScore),
      field(t('accounts.renewal'), renewalSelect),
      customField,
      field(t('accounts.trait'), traitInput, t('accounts.traitHint'), traitError),
      field(t('accounts.pageSize'), size),
      h('button', { type: 'submit', class: 'accounts-apply' }, t('accounts.apply')),
      h('button', { type: 'button', class: 'link accounts-clear', onclick: () => { cursorStack = []; stackKnown = true; ctx.navigate('/accounts'); } }, t('accounts.clear'))),
    traitsData);

  replace(ctx.root,
    h('div', { class: 'page-head' }, h('h1', null, t('accounts.title')), totalLine),
    form,
    h('div', { class: 'toolbar accounts-actions' }, views, h('div', { class: 'export' }, exportButton, ' ', exportStatus)),
    results,
    pager);
  await load();
}
