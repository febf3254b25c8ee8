// A heat map as an HTML table: one row per item (e.g. a feature), one column per period (e.g. a
// week), every cell shows its number AND a shade (five steps of one colour-blind-safe blue ramp,
// scaled to the table's largest value), so the colour is never the only signal and a screen reader
// reads the numbers with their row and column headers.
import { h } from '../dom.js';
import { fmt } from '../format.js';

/** Shade step 0–4 of a value against the maximum: 0 only for zero. */
export function heatLevel(/** @type {number} */ value, /** @type {number} */ max) {
  if (!value || value <= 0 || max <= 0) return 0;
  return Math.min(4, Math.max(1, Math.ceil((value / max) * 4)));
}

/**
 * @param {{ caption: string, corner: string, columns: string[], rows: { label: string, values: number[] }[], format?: (v: number) => string, legend?: string }} o
 *   `columns`: the column headers as shown; `rows[i].values[j]` the cell of row i, column j.
 */
export function heatmap(o) {
  const format = o.format || ((/** @type {number} */ v) => fmt.number(v));
  let max = 0;
  for (const row of o.rows) for (const v of row.values) if (typeof v === 'number' && v > max) max = v;
  return h('div', { class: 'heatmap-wrap', tabindex: '0', role: 'region', 'aria-label': o.caption },
    h('table', { class: 'data heatmap' },
      h('caption', null, o.caption),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, o.corner), o.columns.map((c) => h('th', { scope: 'col', class: 'num' }, c)))),
      h('tbody', null, o.rows.map((row) => h('tr', null,
        h('th', { scope: 'row' }, row.label),
        row.values.map((v) => h('td', { class: `num heat-${heatLevel(v, max)}`, 'data-value': String(v ?? '') }, format(v))))))),
    o.legend ? h('p', { class: 'hint' }, o.legend) : null);
}
