// Charts on uPlot (MIT, ~50 KB minified, canvas): time series with interval bands and thresholds,
// stacked areas, bars and scatter plots. Every chart is a <figure> with a caption, an accessible
// name on the canvas and the same numbers as a table under a <details> disclosure, so the data is
// readable without the picture (screen readers, colour-blindness, copy and paste).
import uPlot from 'uplot';
import { h } from '../dom.js';
import { t, addMessages } from '../i18n.js';

addMessages({
  en: { 'chart.time': 'Date', 'chart.category': 'Item' },
  'zh-CN': { 'chart.time': '日期', 'chart.category': '项目' },
  'zh-TW': { 'chart.time': '日期', 'chart.category': '項目' },
});

/** Colour-blind-safe palette (Okabe–Ito), in the order series take them. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#000000', '#F0E442'];
/** Band colours: the console's CSS uses the same (see console.css --band-*) and always pairs them with a word. */
export const BAND_COLORS = { green: '#1a7f4b', yellow: '#b88400', red: '#c2322d' };

const DAY = 86400;
const toSeconds = (/** @type {string} */ iso) => Date.parse(iso.length === 10 ? iso + 'T00:00:00Z' : iso) / 1000;

/**
 * @typedef {{ label: string, values: (number|null)[], color?: string, dash?: number[], low?: (number|null)[], high?: (number|null)[], fill?: boolean }} Series
 * @typedef {{ value: number, label: string, color?: string }} Threshold
 */

function figure(/** @type {string} */ title, /** @type {HTMLElement} */ plot, /** @type {HTMLElement} */ table, /** @type {string} */ cls = '') {
  return h('figure', { class: `chart ${cls}` },
    h('figcaption', null, title),
    plot,
    h('details', { class: 'chart-data' }, h('summary', null, t('chart.data')), table));
}

/** Data table of a chart: first column the x labels, one column per series. */
export function dataTable(/** @type {string} */ caption, /** @type {string[]} */ xLabels, /** @type {{ label: string, values: (number|string|null)[] }[]} */ columns, /** @type {(v: any) => string} */ format = (v) => (v === null || v === undefined ? '–' : String(v))) {
  return h('table', { class: 'data' },
    h('caption', { class: 'sr-only' }, caption),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, ''), columns.map((c) => h('th', { scope: 'col' }, c.label)))),
    h('tbody', null, xLabels.map((x, i) => h('tr', null, h('th', { scope: 'row' }, x), columns.map((c) => h('td', null, format(c.values[i])))))));
}

/** uPlot's axis font (its default), to measure tick labels with. */
const AXIS_FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif';
/** @type {CanvasRenderingContext2D|null|undefined} */
let measurer;
/**
 * The least room (px) between two time ticks so their labels never touch: the widest label the
 * locale writes for a day (10月28日 is wider than Oct 28) plus a gap. uPlot's default (50 px) lets
 * Chinese day labels run into each other over 60–90 days.
 */
function timeSpace(/** @type {(iso: string) => string} */ label) {
  const samples = ['2026-09-28', '2026-12-28', '2026-05-30', '2026-02-22'].map(label);
  if (measurer === undefined) measurer = document.createElement('canvas').getContext('2d');
  let widest = 0;
  for (const text of samples) {
    if (measurer) {
      measurer.font = AXIS_FONT;
      widest = Math.max(widest, measurer.measureText(text).width);
    } else {
      // No canvas to measure with: CJK characters are about a font size wide, the rest about 0.6 of it.
      widest = Math.max(widest, [...text].reduce((w, c) => w + (/[\u3000-\u9fff\uff00-\uffef]/.test(c) ? 12 : 7.2), 0));
    }
  }
  return Math.max(50, Math.ceil(widest + 20));
}

/** Mounts a uPlot on `holder` once it is in the document and sized; follows its width. */
function mount(/** @type {HTMLElement} */ holder, /** @type {any} */ options, /** @type {any} */ data) {
  /** @type {any} */
  let plot = null;
  const observer = new ResizeObserver(() => {
    const width = Math.max(240, Math.floor(holder.clientWidth));
    if (!holder.isConnected) return;
    if (!plot) {
      // The figure's caption is the title: uPlot draws none of its own (it would say it twice).
      const { title, ...rest } = options;
      plot = new uPlot({ ...rest, width }, data, holder);
      const canvas = holder.querySelector('canvas');
      if (canvas) {
        canvas.setAttribute('role', 'img');
        canvas.setAttribute('aria-label', title || '');
      }
    } else if (plot.width !== width) plot.setSize({ width, height: options.height });
  });
  observer.observe(holder);
  return holder;
}

/** Draws horizontal threshold lines with their labels (band limits). */
function thresholdsPlugin(/** @type {Threshold[]} */ thresholds) {
  return {
    hooks: {
      draw: [(/** @type {any} */ u) => {
        const { ctx } = u;
        ctx.save();
        for (const th of thresholds) {
          const y = Math.round(u.valToPos(th.value, 'y', true));
          ctx.strokeStyle = th.color || '#6b7280';
          ctx.setLineDash([6, 4]);
          ctx.lineWidth = 1 * devicePixelRatio;
          ctx.beginPath();
          ctx.moveTo(u.bbox.left, y);
          ctx.lineTo(u.bbox.left + u.bbox.width, y);
          ctx.stroke();
          ctx.fillStyle = th.color || '#374151';
          ctx.font = `${11 * devicePixelRatio}px system-ui, "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif`;
          // At the right end, above the line: clear of the y axis's numbers on the left.
          const width = ctx.measureText(th.label).width;
          ctx.fillText(th.label, u.bbox.left + u.bbox.width - width - 4 * devicePixelRatio, y - 4 * devicePixelRatio);
        }
        ctx.restore();
      }],
    },
  };
}

/**
 * A time series: x are ISO days (or datetimes); each series may carry an interval (low/high),
 * drawn as a shaded band. `thresholds` draws dashed horizontal lines (e.g. band limits).
 * `pointTicks`: one x tick per point (for coarse periods such as months, whose labels would repeat).
 * @param {{ title: string, x: string[], series: Series[], yRange?: [number, number], thresholds?: Threshold[], height?: number, format?: (v: number) => string, xLabel?: (iso: string) => string, pointTicks?: boolean }} o
 */
export function lineChart(o) {
  const xs = o.x.map(toSeconds);
  /** @type {any[]} */
  const data = [xs];
  /** @type {any[]} */
  const series = [{ label: t('chart.time') }];
  /** @type {any[]} */
  const bands = [];
  o.series.forEach((s, i) => {
    const color = s.color || PALETTE[i % PALETTE.length];
    const index = data.length;
    data.push(s.values);
    series.push({ label: s.label, stroke: color, width: 2, dash: s.dash, spanGaps: false, points: { show: xs.length < 40 }, value: (/** @type {any} */ u, /** @type {number|null} */ v) => (v === null || v === undefined ? '–' : (o.format ? o.format(v) : String(v))) });
    if (s.low && s.high) {
      data.push(s.high, s.low);
      series.push({ label: `${s.label} ${t('chart.upper')}`, stroke: 'transparent', points: { show: false } }, { label: `${s.label} ${t('chart.lower')}`, stroke: 'transparent', points: { show: false } });
      bands.push({ series: [index + 1, index + 2], fill: color + '33' });
    }
  });
  const options = {
    title: '',
    height: o.height || 220,
    series,
    bands,
    // One day alone gets a week around it (uPlot would otherwise spread a zero-width range over years).
    scales: { x: xs.length === 1 ? { time: true, range: [xs[0] - 3 * DAY, xs[0] + 3 * DAY] } : { time: true }, y: o.yRange ? { range: o.yRange } : {} },
    // One day, or points coarser than uPlot's ticks (months): one tick per point, no label twice.
    axes: [{ ...(xs.length === 1 || o.pointTicks ? { splits: () => xs } : {}), space: timeSpace(o.xLabel || defaultDay), values: (/** @type {any} */ u, /** @type {number[]} */ ticks) => ticks.map((v) => (o.xLabel ? o.xLabel : defaultDay)(new Date(v * 1000).toISOString().slice(0, 10))) }, { values: (/** @type {any} */ u, /** @type {number[]} */ ticks) => ticks.map((v) => (o.format ? o.format(v) : String(v))) }],
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
    plugins: o.thresholds ? [thresholdsPlugin(o.thresholds)] : [],
  };
  const holder = h('div', { class: 'plot' });
  mount(holder, { ...options, title: o.title }, data);
  const columns = o.series.flatMap((s) => [{ label: s.label, values: s.values }, ...(s.low && s.high ? [{ label: `${s.label} ${t('chart.lower')}`, values: s.low }, { label: `${s.label} ${t('chart.upper')}`, values: s.high }] : [])]);
  return figure(o.title, holder, dataTable(o.title, o.x.map(o.xLabel || defaultDay), columns, (v) => (v === null || v === undefined ? '–' : o.format ? o.format(v) : String(v))));
}

/** Stacked areas over time (e.g. accounts per band per day): series are stacked bottom-up. */
export function stackedChart(/** @type {{ title: string, x: string[], series: Series[], height?: number, format?: (v: number) => string }} */ o) {
  const xs = o.x.map(toSeconds);
  /** @type {number[][]} */
  const sums = [];
  let running = xs.map(() => 0);
  for (const s of o.series) {
    running = running.map((r, i) => r + (s.values[i] || 0));
    sums.push(running);
  }
  /** @type {any[]} */
  const data = [xs, ...sums.slice().reverse()];
  const reversed = o.series.slice().reverse();
  const series = [{ label: t('chart.time') }, ...reversed.map((s, i) => ({ label: s.label, stroke: s.color || PALETTE[i], fill: (s.color || PALETTE[i]) + 'bb', width: 1, points: { show: false }, value: (/** @type {any} */ u, /** @type {number|null} */ v, /** @type {number} */ si, /** @type {number|null} */ di) => (di === null ? '–' : String(reversed[si - 1].values[di] ?? '–')) }))];
  const bands = reversed.slice(0, -1).map((s, i) => ({ series: [i + 1, i + 2], fill: (s.color || PALETTE[i]) + 'bb' }));
  const holder = h('div', { class: 'plot' });
  mount(holder, { title: o.title, height: o.height || 220, series, bands, scales: { x: { time: true } }, axes: [{ space: timeSpace(defaultDay), values: (/** @type {any} */ u, /** @type {number[]} */ ticks) => ticks.map((v) => defaultDay(new Date(v * 1000).toISOString().slice(0, 10))) }, {}], cursor: { drag: { x: false, y: false } } }, data);
  return figure(o.title, holder, dataTable(o.title, o.x.map(defaultDay), o.series.map((s) => ({ label: s.label, values: s.values })), (v) => (v === null || v === undefined ? '–' : o.format ? o.format(v) : String(v))));
}

/** Vertical bars per category (one or more series side by side). */
export function barChart(/** @type {{ title: string, categories: string[], series: Series[], height?: number, format?: (v: number) => string }} */ o) {
  const xs = o.categories.map((_, i) => i);
  const count = o.series.length;
  const series = [{ label: t('chart.category'), value: (/** @type {any} */ u, /** @type {number} */ v) => o.categories[v] ?? '' }, ...o.series.map((s, i) => ({
    label: s.label,
    stroke: s.color || PALETTE[i % PALETTE.length],
    fill: (s.color || PALETTE[i % PALETTE.length]) + 'cc',
    width: 1,
    points: { show: false },
    paths: uPlot.paths.bars && uPlot.paths.bars({ size: [0.8 / count, 64], align: 0, disp: { x0: { unit: 2, values: () => xs.map(() => (i - (count - 1) / 2) * (0.8 / count)) } } }),
    value: (/** @type {any} */ u, /** @type {number|null} */ v) => (v === null || v === undefined ? '–' : o.format ? o.format(v) : String(v)),
  }))];
  const holder = h('div', { class: 'plot' });
  mount(holder, { title: o.title, height: o.height || 200, series, scales: { x: { time: false, range: [-0.5, xs.length - 0.5] }, y: { range: (/** @type {any} */ u, /** @type {number} */ min, /** @type {number} */ max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } }, axes: [{ splits: () => xs, values: (/** @type {any} */ u, /** @type {number[]} */ ticks) => ticks.map((v) => o.categories[v] ?? ''), grid: { show: false } }, { values: (/** @type {any} */ u, /** @type {number[]} */ ticks) => ticks.map((v) => (o.format ? o.format(v) : String(v))) }], cursor: { drag: { x: false, y: false } } }, [xs, ...o.series.map((s) => s.values)]);
  return figure(o.title, holder, dataTable(o.title, o.categories, o.series.map((s) => ({ label: s.label, values: s.values })), (v) => (v === null || v === undefined ? '–' : o.format ? o.format(v) : String(v))));
}

/** Points with labels on two numeric axes (e.g. the topics' priority matrix). */
export function scatterChart(/** @type {{ title: string, points: { x: number, y: number, label: string, color?: string }[], xLabel: string, yLabel: string, height?: number, formatX?: (v: number) => string, formatY?: (v: number) => string }} */ o) {
  const points = o.points.slice().sort((a, b) => a.x - b.x);
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const holder = h('div', { class: 'plot' });
  const labels = {
    hooks: {
      draw: [(/** @type {any} */ u) => {
        const { ctx } = u;
        ctx.save();
        ctx.fillStyle = '#1f2937';
        ctx.font = `${11 * devicePixelRatio}px system-ui, "Noto Sans CJK SC", sans-serif`;
        points.forEach((p) => ctx.fillText(p.label, u.valToPos(p.x, 'x', true) + 6 * devicePixelRatio, u.valToPos(p.y, 'y', true) - 6 * devicePixelRatio));
        ctx.restore();
      }],
    },
  };
  mount(holder, { title: o.title, height: o.height || 280, mode: 1, series: [{ label: o.xLabel }, { label: o.yLabel, stroke: PALETTE[0], width: 0, paths: () => null, points: { show: true, size: 9, fill: PALETTE[0] } }], scales: { x: { time: false } }, axes: [{ label: o.xLabel, values: (/** @type {any} */ u, /** @type {number[]} */ ticks) => ticks.map((v) => (o.formatX ? o.formatX(v) : String(v))) }, { label: o.yLabel, values: (/** @type {any} */ u, /** @type {number[]} */ ticks) => ticks.map((v) => (o.formatY ? o.formatY(v) : String(v))) }], plugins: [labels], cursor: { drag: { x: false, y: false } } }, [xs, ys]);
  return figure(o.title, holder, dataTable(o.title, points.map((p) => p.label), [{ label: o.xLabel, values: xs.map((v) => (o.formatX ? o.formatX(v) : v)) }, { label: o.yLabel, values: ys.map((v) => (o.formatY ? o.formatY(v) : v)) }]));
}

import { fmt } from '../format.js';
const defaultDay = (/** @type {string} */ iso) => fmt.day(iso);
export { DAY };
