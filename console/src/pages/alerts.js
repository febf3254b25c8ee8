// The Alerts inbox: a list of alerts with its filters in the URL, a detail panel (the comment as
// text, notes, assign, status), multi-select with bulk changes (POST /v1/alerts/bulk) and keyboard
// shortcuts (j/k or ↓/↑, x, Enter, a, r, n, ?) that never fire while typing in a text box.
import { h, replace, uid } from '../dom.js';
import { t } from '../i18n.js';
import { fmt } from '../format.js';
import { failure, empty, field, select, guarded } from '../components/ui.js';
import { savedViews } from '../components/views.js';
import './alerts/messages.js';

const STATUSES = ['open', 'acknowledged', 'resolved'];
const KINDS = ['nps', 'csat', 'ces', 'thumbs', 'emoji'];
const REASONS = ['detractor', 'churn_intent', 'competitor'];
const FILTERS = ['status', 'assignee', 'kind', 'reason', 'account_id', 'survey_id'];
const PAGE_SIZE = 50;
const WRITE = 'alerts:write';
/** Bulk "assignee" choices: '' changes nothing, NONE unassigns. */
const NONE = '\u0000none';

/** The shortcuts, in the order the page lists them: [keys, message key]. */
const SHORTCUTS = [
  [['j', '↓'], 'alerts.key.next'],
  [['k', '↑'], 'alerts.key.prev'],
  [['x'], 'alerts.key.select'],
  [['Enter'], 'alerts.key.open'],
  [['a'], 'alerts.key.assign'],
  [['r'], 'alerts.key.resolve'],
  [['n'], 'alerts.key.note'],
  [['?'], 'alerts.key.help'],
];

/** True when a key press belongs to what the person is typing (never a shortcut then). */
function typing(/** @type {EventTarget|null} */ target) {
  const el = /** @type {HTMLElement|null} */ (target instanceof HTMLElement ? target : null);
  if (!el) return false;
  if (el.isContentEditable || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT') return true;
  if (el.tagName === 'INPUT') return !['checkbox', 'radio', 'button', 'submit', 'reset'].includes(/** @type {HTMLInputElement} */ (el).type);
  return false;
}

/** @param {import('../main.js').PageContext} ctx */
export default async function render(ctx) {
  ctx.title(t('alerts.title'));
  const me = ctx.session.user.email;
  const canWrite = ctx.can(WRITE);
  const denied = t('perm.denied', { role: t(`role.${ctx.project.role}`), permission: WRITE });
  /** @type {Record<string, string>} */
  const filters = Object.fromEntries(FILTERS.map((k) => [k, ctx.query.get(k) || '']));

  const state = {
    /** @type {any[]} */ alerts: [],
    /** @type {string|null} */ cursor: null,
    current: -1,
    /** @type {Set<number>} */ selected: new Set(),
    /** @type {number|null} */ openId: null,
    /** @type {{ email: string, name: string }[]} */ members: [],
  };

  const membersRequest = ctx.can('members:read') ? ctx.api.get('/v1/members', {}, ctx.signal).then((r) => r.members, () => []) : Promise.resolve([]);
  // Topic ids → names in the reader's language (as the Account page does); ids when it fails.
  const topicsRequest = ctx.api.get('/v1/insights/config', {}, ctx.signal).then((r) => r.topics || [], () => []);
  const [page, members, topics] = await Promise.all([fetchPage(null), membersRequest, topicsRequest]);
  /** @type {Map<string, string>} */
  const topicNames = new Map(topics.map((/** @type {any} */ topic) => [topic.id, topic.names?.[ctx.locale] || topic.names?.en || topic.id]));
  const listJoin = ctx.locale.startsWith('zh') ? '、' : ', ';
  state.members = members.map((/** @type {any} */ m) => ({ email: m.email, name: m.name || m.email }));
  if (!state.members.some((m) => m.email === me)) state.members.unshift({ email: me, name: ctx.session.user.name || me });

  /** @param {string|null} cursor */
  function fetchPage(cursor) {
    /** @type {Record<string, any>} */
    const params = { limit: PAGE_SIZE, cursor };
    for (const key of FILTERS) if (filters[key]) params[key] = filters[key];
    return ctx.api.get('/v1/alerts', params, ctx.signal);
  }

  const nameOf = (/** @type {string|null} */ email) => {
    if (!email) return t('alerts.unassigned');
    const member = state.members.find((m) => m.email === email);
    return member && member.name !== email ? `${member.name} (${email})` : email;
  };
  /** A member's name alone (the table is narrow; the email is in the title and the panel). */
  const shortName = (/** @type {string} */ email) => state.members.find((m) => m.email === email)?.name || email;
  const assigneeOptions = () => /** @type {[string, string][]} */ (state.members.map((m) => [m.email, m.name === m.email ? m.email : `${m.name} (${m.email})`]));

  // ---- filters -------------------------------------------------------------------------------
  const statusSelect = select([['', t('alerts.any')], ...STATUSES.map((s) => /** @type {[string, string]} */ ([s, t(`alerts.status.${s}`)]))], filters.status, { name: 'status' });
  const assigneeValues = assigneeOptions();
  if (filters.assignee && !assigneeValues.some(([v]) => v === filters.assignee)) assigneeValues.push([filters.assignee, filters.assignee]);
  const assigneeSelect = select([['', t('alerts.any')], ...assigneeValues], filters.assignee, { name: 'assignee' });
  const kindSelect = select([['', t('alerts.any')], ...KINDS.map((k) => /** @type {[string, string]} */ ([k, k.toUpperCase()]))], filters.kind, { name: 'kind' });
  const reasonSelect = select([['', t('alerts.any')], ...REASONS.map((r) => /** @type {[string, string]} */ ([r, t(`alerts.reason.${r}`)]))], filters.reason, { name: 'reason' });
  const accountInput = h('input', { type: 'search', name: 'account_id', value: filters.account_id, autocomplete: 'off' });
  const surveyInput = h('input', { type: 'search', name: 'survey_id', value: filters.survey_id, autocomplete: 'off' });
  const filterForm = h('form', { class: 'toolbar alerts-filters', role: 'search', 'aria-label': t('alerts.filters'), onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); applyFilters(); } },
    field(t('alerts.status'), statusSelect), field(t('alerts.assignee'), assigneeSelect), field(t('alerts.kind'), kindSelect), field(t('alerts.reason'), reasonSelect),
    field(t('alerts.account'), accountInput), field(t('alerts.survey'), surveyInput),
    h('button', { type: 'submit', class: 'primary' }, t('alerts.apply')),
    h('button', { type: 'button', onclick: () => { for (const el of [statusSelect, assigneeSelect, kindSelect, reasonSelect, accountInput, surveyInput]) /** @type {HTMLInputElement} */ (el).value = ''; applyFilters(); } }, t('alerts.clear')));
  for (const el of [statusSelect, assigneeSelect, kindSelect, reasonSelect]) el.addEventListener('change', () => applyFilters());

  let filtering = 0;
  async function applyFilters() {
    const mine = ++filtering; // a later change wins over an answer still on its way
    const values = { status: statusSelect, assignee: assigneeSelect, kind: kindSelect, reason: reasonSelect, account_id: accountInput, survey_id: surveyInput };
    for (const [key, el] of Object.entries(values)) filters[key] = /** @type {HTMLInputElement} */ (el).value.trim();
    ctx.setQuery(filters);
    document.body.removeAttribute('data-ready');
    try {
      const answer = await fetchPage(null);
      if (mine !== filtering) return;
      state.alerts = answer.alerts;
      state.cursor = answer.next_cursor;
      state.current = state.alerts.length ? 0 : -1;
      state.selected.clear();
      drawList();
      drawBulk();
    } catch (error) {
      if (ctx.signal.aborted || mine !== filtering) return;
      replace(listArea, failure(error, applyFilters));
    }
    ctx.ready();
  }

  // ---- list ----------------------------------------------------------------------------------
  const listArea = h('div', { class: 'alerts-list' });
  const count = h('p', { class: 'muted', role: 'status' });

  function row(/** @type {any} */ alert, /** @type {number} */ index) {
    const checkbox = h('input', { type: 'checkbox', checked: state.selected.has(alert.id), 'aria-label': t('alerts.selectOne', { id: alert.id }), onchange: (/** @type {Event} */ e) => { toggle(alert.id, /** @type {HTMLInputElement} */ (e.target).checked); } });
    const comment = alert.comment ? alert.comment : t('alerts.noComment');
    const current = index === state.current;
    return h('tr', { 'data-id': alert.id, tabindex: '-1', class: `alert-row${current ? ' is-current' : ''}${alert.id === state.openId ? ' is-open' : ''}`, 'aria-current': current ? 'true' : null,
      onclick: (/** @type {MouseEvent} */ e) => { if (!(/** @type {HTMLElement} */ (e.target).closest('input, a, button'))) { state.current = index; open(alert.id); } } },
    h('td', { class: 'select' }, checkbox),
    h('th', { scope: 'row', class: 'comment' }, h('button', { type: 'button', class: 'link open-alert', onclick: () => { state.current = index; open(alert.id); } }, h('span', { class: 'sr-only' }, t('alerts.detail', { id: alert.id }), ': '), h('span', { class: 'clip' }, comment))),
    h('td', { class: 'num' }, h('span', { class: 'badge' }, (alert.kind || '').toUpperCase()), ' ', fmt.number(alert.score, 1)),
    h('td', null, alert.account_id ? h('a', { href: `/console/accounts/${encodeURIComponent(alert.account_id)}`, 'data-link': '' }, alert.account_id) : '–'),
    h('td', null, h('span', { class: `status status-${alert.status}` }, t(`alerts.status.${alert.status}`))),
    h('td', null, alert.assignee ? h('span', { title: alert.assignee }, shortName(alert.assignee)) : h('span', { class: 'muted' }, t('alerts.unassigned'))),
    h('td', null, h('time', { datetime: alert.opened_at, title: fmt.dateTime(alert.opened_at) }, fmt.relative(alert.opened_at))));
  }

  /** Where the focus is in the list (row id and which control), to put it back after a redraw. */
  function focusInList() {
    const active = /** @type {HTMLElement|null} */ (document.activeElement);
    if (!active || !listArea.contains(active)) return null;
    const tr = active.closest('tr');
    const kind = active.matches('input.select-all') ? 'all' : active.matches('input') ? 'input' : active.matches('button') ? 'button' : 'row';
    return { id: tr?.getAttribute('data-id'), kind };
  }
  function restoreFocus(/** @type {{ id: string|null|undefined, kind: string } | null} */ where) {
    if (!where) return;
    const tr = where.id ? listArea.querySelector(`tr[data-id="${where.id}"]`) : null;
    const target = where.kind === 'all' ? listArea.querySelector('input.select-all')
      : !tr ? listArea.querySelector('tr.is-current')
        : where.kind === 'input' ? tr.querySelector('input') : where.kind === 'button' ? tr.querySelector('button') : tr;
    /** @type {HTMLElement|null} */ (target)?.focus();
  }

  function drawList() {
    const where = focusInList();
    drawRows();
    restoreFocus(where);
  }

  function drawRows() {
    count.textContent = t('alerts.shown', { count: state.alerts.length });
    if (!state.alerts.length) return replace(listArea, empty(t('alerts.none')));
    const all = h('input', { type: 'checkbox', class: 'select-all', 'aria-label': t('alerts.selectAll'), checked: state.alerts.every((a) => state.selected.has(a.id)),
      onchange: (/** @type {Event} */ e) => { const on = /** @type {HTMLInputElement} */ (e.target).checked; for (const a of state.alerts) on ? state.selected.add(a.id) : state.selected.delete(a.id); drawList(); drawBulk(); } });
    replace(listArea,
      h('table', { class: 'grid alerts-table' },
        h('caption', { class: 'sr-only' }, t('alerts.list')),
        h('colgroup', null, ['select', 'comment', 'score', 'account', 'status', 'assignee', 'opened'].map((c) => h('col', { class: `col-${c}` }))),
        h('thead', null, h('tr', null,
          h('td', { class: 'select' }, all),
          h('th', { scope: 'col' }, t('alerts.comment')), h('th', { scope: 'col', class: 'num' }, t('alerts.score')), h('th', { scope: 'col' }, t('alerts.account')),
          h('th', { scope: 'col' }, t('alerts.status')), h('th', { scope: 'col' }, t('alerts.assignee')), h('th', { scope: 'col' }, t('alerts.opened')))),
        h('tbody', null, state.alerts.map(row))),
      state.cursor ? h('div', { class: 'pager' }, h('button', { type: 'button', onclick: loadMore }, t('alerts.more'))) : null);
  }

  async function loadMore() {
    try {
      const answer = await fetchPage(state.cursor);
      state.alerts.push(...answer.alerts);
      state.cursor = answer.next_cursor;
      drawList();
    } catch (error) {
      ctx.announce(/** @type {any} */ (error).message);
    }
  }

  function toggle(/** @type {number} */ id, /** @type {boolean} */ on) {
    on ? state.selected.add(id) : state.selected.delete(id);
    drawBulk();
  }

  /** Replaces the alert in the list (and the panel when it is open) with the API's answer. */
  function updated(/** @type {any} */ alert) {
    const index = state.alerts.findIndex((a) => a.id === alert.id);
    if (index >= 0) state.alerts[index] = alert;
    drawList();
    if (state.openId === alert.id) drawDetail(alert);
  }

  // ---- bulk ----------------------------------------------------------------------------------
  const bulkArea = h('section', { class: 'alerts-bulk', 'aria-label': t('alerts.bulk') });
  function drawBulk() {
    const n = state.selected.size;
    const who = select([['', t('alerts.noChange')], [NONE, t('alerts.unassign')], ...assigneeOptions()], '', { name: 'bulk-assignee' });
    const status = select([['', t('alerts.noChange')], ...STATUSES.map((s) => /** @type {[string, string]} */ ([s, t(`alerts.status.${s}`)]))], '', { name: 'bulk-status' });
    const message = h('p', { class: 'field-error', role: 'alert' });
    const apply = guarded(ctx, WRITE, { class: 'primary bulk-apply', disabled: canWrite && n === 0, onclick: async () => {
      /** @type {Record<string, any>} */
      const body = { ids: [...state.selected] };
      const assignee = /** @type {HTMLSelectElement} */ (who).value;
      if (assignee) body.assignee = assignee === NONE ? null : assignee;
      if (/** @type {HTMLSelectElement} */ (status).value) body.status = /** @type {HTMLSelectElement} */ (status).value;
      if (!('assignee' in body) && !('status' in body)) return (message.textContent = `${t('alerts.bulkAssign')} / ${t('alerts.bulkStatus')}`);
      try {
        const answer = await ctx.api.post('/v1/alerts/bulk', body);
        for (const alert of answer.alerts) {
          const index = state.alerts.findIndex((a) => a.id === alert.id);
          if (index >= 0) state.alerts[index] = alert;
          if (state.openId === alert.id) drawDetail(alert);
        }
        state.selected.clear();
        drawList();
        drawBulk();
        ctx.announce(t('alerts.bulkDone', { count: answer.updated }));
        bulkArea.append(h('p', { class: 'muted bulk-done', role: 'status' }, t('alerts.bulkDone', { count: answer.updated })));
      } catch (error) {
        message.textContent = /** @type {any} */ (error).message;
      }
    } }, t('alerts.bulkApply'));
    replace(bulkArea,
      h('div', { class: 'toolbar' },
        h('p', { class: 'bulk-count' }, t('alerts.selected', { count: n })),
        field(t('alerts.bulkAssign'), who), field(t('alerts.bulkStatus'), status), apply),
      message);
  }

  // ---- detail --------------------------------------------------------------------------------
  const detail = h('section', { class: 'alerts-detail card', 'aria-labelledby': 'alert-detail-title' });
  /** @type {HTMLTextAreaElement|null} */
  let noteBox = null;

  function showPick() {
    noteBox = null;
    replace(detail, h('h2', { id: 'alert-detail-title' }, t('alerts.pick')));
  }

  async function open(/** @type {number} */ id, { focus = true } = {}) {
    state.openId = id;
    ctx.setQuery({ alert: id });
    drawList();
    const listed = state.alerts.find((a) => a.id === id);
    if (listed) drawDetail(listed);
    try {
      const alert = await ctx.api.get(`/v1/alerts/${id}`, {}, ctx.signal);
      if (state.openId === id) updated(alert);
    } catch (error) {
      if (!ctx.signal.aborted) replace(detail, failure(error, () => open(id)));
    }
    if (focus) /** @type {HTMLElement|null} */ (detail.querySelector('h2'))?.focus();
  }

  async function change(/** @type {any} */ alert, /** @type {Record<string, any>} */ body, /** @type {string} */ said) {
    if (!canWrite) return ctx.announce(denied);
    try {
      updated(await ctx.api.patch(`/v1/alerts/${alert.id}`, body));
      ctx.announce(said);
    } catch (error) {
      ctx.announce(/** @type {any} */ (error).message);
      const box = detail.querySelector('.detail-error');
      if (box) box.textContent = /** @type {any} */ (error).message;
    }
  }
  const assignMe = (/** @type {any} */ alert) => change(alert, { assignee: me }, t('alerts.assigned', { name: nameOf(me) }));
  const setStatus = (/** @type {any} */ alert, /** @type {string} */ status) => change(alert, { status }, t('alerts.statusNow', { status: t(`alerts.status.${status}`) }));

  function drawDetail(/** @type {any} */ alert) {
    const analysis = alert.analysis;
    const facts = /** @type {[string, any][]} */ ([
      [t('alerts.score'), [h('span', { class: 'badge' }, (alert.kind || '').toUpperCase()), ' ', fmt.number(alert.score, 1)]],
      [t('alerts.status'), h('span', { class: `status status-${alert.status}` }, t(`alerts.status.${alert.status}`))],
      [t('alerts.assignee'), nameOf(alert.assignee)],
      [t('alerts.reason'), (alert.reasons || []).map((/** @type {string} */ r) => t(`alerts.reason.${r}`)).join(', ') || '–'],
      [t('alerts.account'), alert.account_id ? h('a', { href: `/console/accounts/${encodeURIComponent(alert.account_id)}`, 'data-link': '' }, alert.account_id) : '–'],
      [t('alerts.user'), alert.user_id || alert.anonymous_id || '–'],
      [t('alerts.feature'), alert.feature || '–'],
      [t('alerts.survey'), alert.survey_id || '–'],
      [t('alerts.responded'), alert.responded_at ? h('time', { datetime: alert.responded_at }, fmt.dateTime(alert.responded_at)) : '–'],
      [t('alerts.opened'), h('time', { datetime: alert.opened_at }, fmt.dateTime(alert.opened_at))],
    ]);
    if (analysis) {
      const sentimentKey = `alerts.sentiment.${analysis.sentiment}`;
      const sentiment = !analysis.sentiment ? '–' : t(sentimentKey) === sentimentKey ? String(analysis.sentiment) : t(sentimentKey);
      facts.push([t('alerts.sentiment'), h('span', { class: 'sentiment', 'data-sentiment': analysis.sentiment || '' }, sentiment)]);
      if (analysis.topics?.length) facts.push([t('alerts.topics'), h('span', { class: 'topics', 'data-topics': analysis.topics.join(' ') }, analysis.topics.map((/** @type {string} */ id) => topicNames.get(id) || id).join(listJoin))]);
    }
    const statusButtons = alert.status === 'open'
      ? [guarded(ctx, WRITE, { class: 'status-ack', onclick: () => setStatus(alert, 'acknowledged') }, t('alerts.acknowledge')), guarded(ctx, WRITE, { class: 'primary status-resolve', onclick: () => setStatus(alert, 'resolved') }, t('alerts.resolve'))]
      : alert.status === 'acknowledged'
        ? [guarded(ctx, WRITE, { class: 'primary status-resolve', onclick: () => setStatus(alert, 'resolved') }, t('alerts.resolve')), guarded(ctx, WRITE, { class: 'status-reopen', onclick: () => setStatus(alert, 'open') }, t('alerts.reopen'))]
        : [guarded(ctx, WRITE, { class: 'status-reopen', onclick: () => setStatus(alert, 'open') }, t('alerts.reopen'))];
    const options = assigneeOptions();
    if (alert.assignee && !options.some(([v]) => v === alert.assignee)) options.push([alert.assignee, alert.assignee]);
    const assigneeSelect = select([[NONE, t('alerts.unassigned')], ...options], alert.assignee || NONE, { name: 'assignee', disabled: !canWrite });
    const noteId = uid('note');
    noteBox = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: noteId, name: 'note', rows: 3, maxlength: 10000, disabled: !canWrite, 'aria-describedby': canWrite ? null : `${noteId}-why` }));
    const noteError = h('p', { class: 'field-error', role: 'alert' });
    const box = noteBox;
    const noteForm = h('form', { class: 'note-form', onsubmit: async (/** @type {Event} */ e) => {
      e.preventDefault();
      if (!canWrite) return ctx.announce(denied);
      noteError.textContent = '';
      try {
        updated(await ctx.api.post(`/v1/alerts/${alert.id}/notes`, { text: box.value }));
        ctx.announce(t('alerts.noteAdded'));
        noteBox?.focus();
      } catch (error) {
        noteError.textContent = /** @type {any} */ (error).message;
        box.focus();
      }
    } },
    h('div', { class: 'field' }, h('label', { for: noteId }, t('alerts.note')), noteBox, canWrite ? null : h('p', { class: 'hint', id: `${noteId}-why` }, denied)),
    noteError,
    guarded(ctx, WRITE, { type: canWrite ? 'submit' : 'button', class: 'primary add-note' }, t('alerts.addNote')));
    const notes = alert.notes || [];
    // A redraw after an action keeps the focus in the panel (on its heading, which names the alert).
    const hadFocus = detail.contains(document.activeElement) && document.activeElement !== document.body;
    replace(detail,
      h('h2', { id: 'alert-detail-title', tabindex: '-1' }, t('alerts.detail', { id: alert.id })),
      h('blockquote', { class: 'verbatim alert-comment' }, alert.comment || t('alerts.noComment')),
      h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
      h('div', { class: 'toolbar detail-actions' },
        ...statusButtons,
        guarded(ctx, WRITE, { class: 'assign-me', onclick: () => assignMe(alert) }, t('alerts.assignMe')),
        field(t('alerts.assignTo'), assigneeSelect),
        guarded(ctx, WRITE, { class: 'assign', onclick: () => {
          const value = /** @type {HTMLSelectElement} */ (assigneeSelect).value;
          change(alert, { assignee: value === NONE ? null : value }, value === NONE ? t('alerts.unassigned.done') : t('alerts.assigned', { name: nameOf(value) }));
        } }, t('alerts.assign'))),
      h('p', { class: 'field-error detail-error', role: 'alert' }),
      h('h3', null, t('alerts.notes')),
      notes.length
        ? h('ol', { class: 'notes' }, notes.map((/** @type {any} */ n) => h('li', { class: 'note' },
          h('p', { class: 'note-meta' }, h('strong', null, n.author || '–'), ' · ', h('time', { datetime: n.at }, fmt.dateTime(n.at))),
          h('p', { class: 'note-text' }, n.text))))
        : empty(t('alerts.noNotes')),
      noteForm);
    if (hadFocus) /** @type {HTMLElement|null} */ (detail.querySelector('h2'))?.focus();
  }

  // ---- shortcuts -----------------------------------------------------------------------------
  const keyList = () => SHORTCUTS.map(([keys, label]) => [keys.map((k, i) => [i ? ' / ' : '', h('kbd', null, k)]), ' ', t(label)]);
  const dialogTable = h('table', { class: 'data' },
    h('caption', { class: 'sr-only' }, t('alerts.shortcuts')),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, t('alerts.keyCol')), h('th', { scope: 'col' }, t('alerts.actionCol')))),
    h('tbody', null, SHORTCUTS.map(([keys, label]) => h('tr', null, h('th', { scope: 'row' }, keys.map((k, i) => [i ? ' / ' : '', h('kbd', null, k)])), h('td', null, t(label))))));
  const dialog = /** @type {HTMLDialogElement} */ (h('dialog', { class: 'shortcuts-dialog', 'aria-labelledby': 'shortcuts-title' },
    h('h2', { id: 'shortcuts-title' }, t('alerts.shortcuts')),
    h('p', { class: 'hint' }, t('alerts.shortcutsHelp')),
    dialogTable,
    h('form', { method: 'dialog' }, h('button', { type: 'submit', class: 'primary' }, t('alerts.close')))));
  /** @type {HTMLElement|null} */
  let opener = null;
  dialog.addEventListener('close', () => opener?.focus());
  const showShortcuts = () => {
    opener = /** @type {HTMLElement|null} */ (document.activeElement);
    dialog.showModal();
  };

  function move(/** @type {number} */ step) {
    if (!state.alerts.length) return;
    state.current = Math.max(0, Math.min(state.alerts.length - 1, state.current + step));
    drawList();
    /** @type {HTMLElement|null} */ (listArea.querySelector('tr.is-current'))?.focus();
  }
  const currentAlert = () => state.alerts[state.current] || null;

  document.addEventListener('keydown', (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (dialog.open || document.querySelector('dialog[open]')) return;
    const target = /** @type {HTMLElement} */ (event.target);
    const alert = currentAlert();
    switch (event.key) {
      case 'j': case 'ArrowDown': move(1); break;
      case 'k': case 'ArrowUp': move(-1); break;
      case 'x':
        if (!alert) return;
        toggle(alert.id, !state.selected.has(alert.id));
        drawList();
        /** @type {HTMLElement|null} */ (listArea.querySelector('tr.is-current'))?.focus();
        break;
      case 'Enter':
        // Enter on a button or link does what that control does.
        if (!alert || (target.closest && target.closest('button, a, input'))) return;
        open(alert.id);
        break;
      case 'a': if (!alert) return; assignMe(alert); break;
      case 'r': if (!alert) return; setStatus(alert, 'resolved'); break;
      case 'n':
        if (!noteBox && alert) open(alert.id).then(() => focusNote());
        else focusNote();
        break;
      case '?': showShortcuts(); break;
      default: return;
    }
    event.preventDefault();
  }, { signal: ctx.signal });

  function focusNote() {
    if (!canWrite) return ctx.announce(denied);
    noteBox?.focus();
  }

  // ---- page ----------------------------------------------------------------------------------
  state.alerts = page.alerts;
  state.cursor = page.next_cursor;
  state.current = state.alerts.length ? 0 : -1;
  // The open alert (?alert=) is a position, not a filter: views leave it out.
  const views = savedViews(ctx, 'alerts', { exclude: ['cursor', 'alert'] });
  replace(ctx.root,
    h('h1', null, t('alerts.title')),
    filterForm,
    h('div', { class: 'toolbar alerts-views' }, views),
    h('div', { class: 'shortcuts-bar' },
      h('p', { class: 'shortcut-list', id: 'alerts-shortcuts' }, h('strong', null, t('alerts.shortcuts'), ': '), keyList().map((item, i) => [i ? ' · ' : '', item])),
      h('button', { type: 'button', class: 'link show-shortcuts', onclick: showShortcuts, 'aria-keyshortcuts': '?', 'aria-haspopup': 'dialog' }, t('alerts.shortcuts'))),
    bulkArea,
    h('div', { class: 'alerts-layout' }, h('div', { class: 'alerts-main' }, count, listArea), detail),
    dialog);
  drawList();
  drawBulk();
  showPick();
  // ?alert=<id> opens that alert (a shareable link; it need not be on the first page).
  const first = Number(ctx.query.get('alert'));
  if (Number.isSafeInteger(first) && first > 0) await open(first, { focus: false });
  ctx.ready();
}
