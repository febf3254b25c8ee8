// Main-thread cost of the surveys bundle and of rendering the widget in Chromium, against the
// core alone measured in the same run (interleaved).
//
//   npm run bench:widget                     # 15 runs each
//   RUNS=31 CPU_THROTTLE=4 npm run bench:widget
//
// Both variants load the core with the pasted snippet from the test server, with a fresh
// browser context (fresh localStorage and HTTP cache) per run:
// - core only: the config lists no survey, so the surveys bundle is not loaded;
// - core + widget: the config lists one survey whose trigger never fires, so the bundle is
//   loaded and evaluated, but shows nothing until `cxloop.survey(id)`.
// Two phases, each the median over the runs:
// - load: CDP ScriptDuration and TaskDuration from the page's start until 1.5 s after load
//   (init, the config request, and the bundle for the second variant);
// - show: the synchronous time of one call, `cxloop.survey(id)` (which builds the widget's DOM
//   in its shadow root) against `cxloop.track(...)` for the core alone, then CDP ScriptDuration
//   and TaskDuration over that call and the 1 s after it (style, layout and paint included).
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { gzipSync } from 'node:zlib';
import { launch } from '../test/browser/chromium.mjs';
import { snippetFor, startServer } from '../test/browser/server.mjs';

const RUNS = Number(process.env.RUNS || 15);
const CPU_THROTTLE = Number(process.env.CPU_THROTTLE || 1);
const dist = new URL('../dist/', import.meta.url);
const gzip = (/** @type {string} */ file) => gzipSync(readFileSync(new URL(file, dist)), { level: 9 }).length;

const SURVEY = {
  id: 'srv_bench', kind: 'nps', question: { en: 'How likely are you to recommend Acme Analytics to a colleague?' },
  follow_up: { default: { en: 'What is the main reason for your score?' } }, trigger: { event: 'Never Tracked' }, placement: 'popover',
};

const server = await startServer();
const page = `<!doctype html><html><head><meta charset="utf-8"><title>bench</title>
<script>${snippetFor(server.origin)}</script>
</head><body><h1>Acme Analytics</h1><p>A page of the vendor's app.</p></body></html>`;
server.page('/bench', page);
const browser = await launch();

/** @param {boolean} withSurvey */
async function measure(withSurvey) {
  server.setConfig({ cooldown_days: 14, snooze_days: 3, surveys: withSurvey ? [SURVEY] : [] });
  const context = await browser.newContext();
  const tab = await context.newPage();
  const cdp = await context.newCDPSession(tab);
  await cdp.send('Performance.enable');
  if (CPU_THROTTLE > 1) await cdp.send('Emulation.setCPUThrottlingRate', { rate: CPU_THROTTLE });
  const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  await tab.goto(server.origin + '/bench');
  await tab.waitForTimeout(1500);
  const loaded = await metrics();
  const bundle = await tab.evaluate(() => !!document.querySelector('script[src*="cxloop-surveys"]'));
  if (bundle !== withSurvey) throw new Error(`the surveys bundle was ${bundle ? '' : 'not '}loaded`);
  const sync = await tab.evaluate((show) => {
    const cx = /** @type {any} */ (window).cxloop;
    const t0 = performance.now();
    if (show) cx.survey('srv_bench');
    else cx.track('Bench Event', { plan: 'pro' });
    return performance.now() - t0;
  }, withSurvey);
  await tab.waitForTimeout(1000);
  const shown = await metrics();
  if (withSurvey && !(await tab.evaluate(() => !!document.querySelector('cxloop-survey')))) throw new Error('the widget did not render');
  await context.close();
  return {
    loadScript: loaded.ScriptDuration * 1000,
    loadTask: loaded.TaskDuration * 1000,
    sync,
    showScript: (shown.ScriptDuration - loaded.ScriptDuration) * 1000,
    showTask: (shown.TaskDuration - loaded.TaskDuration) * 1000,
  };
}

/** @param {number[]} values */
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const load = loadavg()[0];
await measure(true); // warm-up: the first page of a browser pays one-off costs
/** @type {Record<string, Awaited<ReturnType<typeof measure>>[]>} */
const results = { core: [], widget: [] };
for (let run = 0; run < RUNS; run++) {
  results.core.push(await measure(false));
  results.widget.push(await measure(true));
}
await browser.close();
await server.close();

const rows = /** @type {const} */ ([
  ['load: main thread (ScriptDuration)', 'loadScript'],
  ['load: main thread (TaskDuration)', 'loadTask'],
  ['show: the call (synchronous)', 'sync'],
  ['show: main thread (ScriptDuration)', 'showScript'],
  ['show: main thread (TaskDuration)', 'showTask'],
]);
const fmt = (/** @type {number} */ ms) => ms.toFixed(2).padStart(9);
console.log(`cxloop widget benchmark: ${process.env.CHROMIUM_PATH || '/usr/bin/chromium'}, ${RUNS} runs each, medians, ` +
  `CPU throttling ${CPU_THROTTLE}x, ${cpus().length} cores, load average ${load.toFixed(2)} at the start`);
console.log(`\n${'ms (median)'.padEnd(38)}${'core only'.padStart(10)}${'+ widget'.padStart(10)}${'difference'.padStart(12)}${'widget best'.padStart(13)}`);
for (const [label, key] of rows) {
  const a = median(results.core.map((r) => r[key]));
  const samples = results.widget.map((r) => r[key]);
  const b = median(samples);
  console.log(`${label.padEnd(38)}${fmt(a).padStart(10)}${fmt(b).padStart(10)}${fmt(b - a).padStart(12)}${fmt(Math.min(...samples)).padStart(13)}`);
}
console.log(`\nsizes: core ${gzip('cxloop.min.js')} B gzip -9, surveys bundle ${gzip('cxloop-surveys.min.js')} B gzip -9`);
