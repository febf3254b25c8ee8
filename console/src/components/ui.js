// Small building blocks every page uses: band badges (a word and a shape, never colour alone),
// buttons that say why a role cannot use them, loading/empty/error states, sortable tables, pagers.
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { fmt } from '../format.js';

const BAND_SHAPES = { green: '●', yellow: '▲', red: '■' };

/** A band as a word with a shape and a colour: "● Green". */
export function band(/** @type {string|null|undefined} */ name) {
  if (!name) return h('span', { class: 'band band-none' }, '–');
  return h('span', { class: `band band-${name}` }, h('span', { 'aria-hidden': 'true' }, BAND_SHAPES[/** @type {'green'} */ (name)] || ''), ' ', t(`band.${name}`));
}

/** A score change with its sign and direction in words for screen readers. */
export function change(/** @type {number|null|undefined} */ value) {
  if (value === null || value === undefined) return h('span', { class: 'change' }, '–');
  const cls = value > 0 ? 'up' : value < 0 ? 'down' : 'flat';
  return h('span', { class: `change change-${cls}` }, h('span', { 'aria-hidden': 'true' }, value > 0 ? '↑ ' : value < 0 ? '↓ ' : ''), fmt.signed(value));
}

/**
 * A button that needs `permission`: for a role without it, the button stays focusable but is
 * aria-disabled, and says why (its description, and a message when pressed).
 * @param {{ can: (p: string) => boolean, project: { role: string }, announce: (m: string) => void }} ctx
 * @param {string} permission
 * @param {Record<string, any>} attrs  h() attributes (onclick is only wired when allowed)
 * @param {...any} children
 */
export function guarded(ctx, permission, attrs, ...children) {
  if (ctx.can(permission)) return h('button', { type: 'button', ...attrs }, ...children);
  const reason = t('perm.denied', { role: t(`role.${ctx.project.role}`), permission });
  const { onclick, ...rest } = attrs;
  return h('button', { type: 'button', ...rest, 'aria-disabled': 'true', title: reason, class: `${attrs.class || ''} is-denied`, onclick: () => ctx.announce(reason), 'data-denied': permission }, ...children, h('span', { class: 'sr-only' }, ` (${reason})`));
}

export const loading = () => h('p', { class: 'loading', role: 'status' }, t('state.loading'));
export const empty = (/** @type {string} */ text) => h('p', { class: 'empty' }, text);
/** An API error as the API said it (code and message), with a retry when given. */
export function failure(/** @type {any} */ error, /** @type {(() => void) | undefined} */ retry) {
  return h('div', { class: 'error', role: 'alert' },
    h('p', null, h('strong', null, t('state.error')), ' ', error?.message || String(error)),
    error?.code ? h('p', { class: 'muted' }, h('code', null, error.code)) : null,
    retry ? h('button', { type: 'button', onclick: retry }, t('state.retry')) : null);
}

/**
 * A table with sortable columns. `columns`: { key, label, sort?: string (the API's sort name),
 * numeric?: bool, cell: (row) => node|string }. `sort` is the current sort ('-score' = descending).
 * @param {{ caption: string, columns: { key: string, label: string, sort?: string, numeric?: boolean, cell: (row: any) => any }[], rows: any[], sort?: string, onSort?: (sort: string) => void, rowKey?: (row: any) => string }} o
 */
export function table(o) {
  const head = o.columns.map((c) => {
    if (!c.sort || !o.onSort) return h('th', { scope: 'col', class: c.numeric ? 'num' : null }, c.label);
    const active = o.sort === c.sort || o.sort === `-${c.sort}`;
    const descending = o.sort === `-${c.sort}`;
    const next = active && !descending ? `-${c.sort}` : c.sort;
    return h('th', { scope: 'col', class: c.numeric ? 'num' : null, 'aria-sort': active ? (descending ? 'descending' : 'ascending') : 'none' },
      h('button', { type: 'button', class: 'sort', onclick: () => o.onSort && o.onSort(next) }, c.label, h('span', { 'aria-hidden': 'true' }, active ? (descending ? ' ▼' : ' ▲') : ' ↕')));
  });
  return h('table', { class: 'grid' },
    h('caption', { class: 'sr-only' }, o.caption),
    h('thead', null, h('tr', null, head)),
    h('tbody', null, o.rows.map((row) => h('tr', { 'data-key': o.rowKey ? o.rowKey(row) : null }, o.columns.map((c, i) => h(i === 0 ? 'th' : 'td', { class: c.numeric ? 'num' : null, scope: i === 0 ? 'row' : null }, c.cell(row)))))));
}

/** A labelled form control: label + control + optional hint and error (wired with aria). */
export function field(/** @type {string} */ label, /** @type {HTMLElement} */ control, /** @type {{ hint?: string, error?: string }} */ o = {}) {
  const id = control.id || (control.id = `f-${Math.random().toString(36).slice(2, 9)}`);
  const hintId = o.hint ? `${id}-hint` : null;
  const errorId = o.error ? `${id}-error` : null;
  const described = [hintId, errorId].filter(Boolean).join(' ');
  if (described) control.setAttribute('aria-describedby', described);
  if (o.error) control.setAttribute('aria-invalid', 'true');
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, o.hint ? h('p', { class: 'hint', id: hintId }, o.hint) : null, o.error ? h('p', { class: 'field-error', id: errorId }, o.error) : null);
}

/** A <select> of [value, label] pairs. */
export function select(/** @type {[string, string][]} */ options, /** @type {string} */ value, /** @type {Record<string, any>} */ attrs = {}) {
  return h('select', attrs, options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}
