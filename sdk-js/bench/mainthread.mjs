// Main-thread cost of the SDK in Chromium: init + 100 track calls, against a no-op stub of the same
// API measured in the same run. Prints the medians, their ratio, and the bundle sizes.
//
//   npm run bench                     # 15 runs each
//   RUNS=30 CPU_THROTTLE=4 npm run bench   # slower device: Chromium's CPU throttling
//
// Two page kinds: "cold", where nothing has used localStorage or Intl before the SDK (the
// worst case: their first use costs Chromium milliseconds), and "typical app", whose own script
// has already read localStorage and formatted a date, as SaaS apps do at startup.
// Three figures per variant, each the median over fresh pages (fresh localStorage):
// - evaluate: parsing and running the SDK script (inline, so no network time is counted);
// - init + 100 track: the synchronous time of the calls, as the host page feels it;
// - main thread, all: CDP's ScriptDuration and TaskDuration over the calls and the 3 s after them,
//   so the deferred work (outbox writes, batching, the fetches) is counted too.
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { gzipSync } from 'node:zlib';
import { launch } from '../test/browser/chromium.mjs';
import { WRITE_KEY, startServer } from '../test/browser/server.mjs';

const RUNS = Number(process.env.RUNS || 15);
const CPU_THROTTLE = Number(process.env.CPU_THROTTLE || 1);
const TARGET_MS = 5;
const dist = new URL('../dist/', import.meta.url);
const sdk = readFileSync(new URL('cxloop.min.js', dist), 'utf8');
const snippetBytes = readFileSync(new URL('snippet.min.js', dist)).length;
const coreGzip = gzipSync(readFileSync(new URL('cxloop.min.js', dist)), { level: 9 }).length;

const methods = ['init', 'identify', 'group', 'track', 'page', 'feature', 'reset', 'optOut', 'optIn', 'consent', 'ready', 'user', 'survey'];
const stub = `window.cxloop={${methods.map((m) => `${m}(){}`).join(',')},flush(){return Promise.resolve()},version:'stub'};`;

const APP_STARTUP = "localStorage.getItem('app.session'); window.__today = new Date().toLocaleDateString();";

/** @param {string} code @param {boolean} typicalApp */
const pageFor = (code, typicalApp) => `<!doctype html><html><head><meta charset="utf-8"><title>bench</title>
<script>${typicalApp ? APP_STARTUP : ''}</script>
<script>window.__t0 = performance.now();</script>
<script>${code.replace(/<\/script/g, '<\\/script')}</script>
<script>window.__evaluate = performance.now() - window.__t0;</script>
</head><body>bench</body></html>`;

const server = await startServer();
// Cross-origin isolation gives performance.now() 5 µs resolution instead of 100 µs.
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
for (const [kind, typicalApp] of /** @type {const} */ ([['cold', false], ['app', true]])) {
  server.page(`/${kind}/sdk`, pageFor(sdk, typicalApp), isolation);
  server.page(`/${kind}/stub`, pageFor(stub, typicalApp), isolation);
}
const browser = await launch();

/** @param {string} path */
async function measure(path) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  if (CPU_THROTTLE > 1) await cdp.send('Emulation.setCPUThrottlingRate', { rate: CPU_THROTTLE });
  await page.goto(server.origin + path);
  await page.waitForTimeout(200);
  const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  const before = await metrics();
  const sync = await page.evaluate(({ key, host }) => {
    const cx = /** @type {any} */ (window).cxloop;
    const t0 = performance.now();
    cx.init(key, { host });
    for (let i = 0; i < 100; i++) cx.track('Bench Event', { i, plan: 'pro', feature: 'export-csv' });
    return performance.now() - t0;
  }, { key: WRITE_KEY, host: server.origin });
  await page.waitForTimeout(3000);
  const after = await metrics();
  const evaluate = await page.evaluate(() => /** @type {any} */ (window).__evaluate);
  await context.close();
  return {
    evaluate,
    sync,
    script: (after.ScriptDuration - before.ScriptDuration) * 1000,
    task: (after.TaskDuration - before.TaskDuration) * 1000,
  };
}

/** @param {number[]} values */
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** @typedef {Awaited<ReturnType<typeof measure>>} Sample */
/** @type {Record<string, Sample[]>} */
const results = { 'cold/sdk': [], 'cold/stub': [], 'app/sdk': [], 'app/stub': [] };
const load = loadavg()[0];
await measure('/cold/sdk'); // warm-up: the first page of a browser pays one-off costs
for (let run = 0; run < RUNS; run++) {
  // Interleaved, so that drift in the machine's load affects every variant alike.
  for (const variant of Object.keys(results)) results[variant].push(await measure('/' + variant));
}
const events = server.events().length;
await browser.close();
await server.close();

const version = (await import('playwright-core')).chromium.name();
const rows = /** @type {const} */ ([
  ['evaluate the script', 'evaluate'],
  ['init + 100 track (synchronous)', 'sync'],
  ['main thread, all: ScriptDuration', 'script'],
  ['main thread, all: TaskDuration', 'task'],
]);
const fmt = (/** @type {number} */ ms) => ms.toFixed(3).padStart(9);
console.log(`cxloop main-thread benchmark: ${version} (${process.env.CHROMIUM_PATH || '/usr/bin/chromium'}), ${RUNS} runs each, medians, ` +
  `CPU throttling ${CPU_THROTTLE}x, ${cpus().length} cores, load average ${load.toFixed(2)} at the start`);
for (const [kind, title] of [['cold', 'cold page (first use of localStorage and Intl is the SDK\'s)'], ['app', 'typical app (the page used localStorage and Intl first)']]) {
  console.log(`\n${title}`);
  console.log(`${'ms (median)'.padEnd(36)}${'cxloop'.padStart(9)}${'no-op stub'.padStart(12)}${'ratio'.padStart(9)}${'difference'.padStart(12)}${'cxloop best'.padStart(13)}`);
  for (const [label, key] of rows) {
    const samples = results[kind + '/sdk'].map((r) => r[key]);
    const a = median(samples);
    const b = median(results[kind + '/stub'].map((r) => r[key]));
    console.log(`${label.padEnd(36)}${fmt(a)}${fmt(b).padStart(12)}${(b > 0 ? (a / b).toFixed(1) + 'x' : '-').padStart(9)}${fmt(a - b).padStart(12)}${fmt(Math.min(...samples)).padStart(13)}`);
  }
}
console.log(`\nsizes: snippet ${snippetBytes} B minified, core ${coreGzip} B gzip -9`);
console.log(`events received by the test server: ${events} (expected ${(2 * RUNS + 1) * 101})`);
for (const kind of ['cold', 'app']) {
  const sync = median(results[kind + '/sdk'].map((r) => r.sync));
  console.log(`target (${kind}): init + 100 track under ${TARGET_MS} ms: ${sync < TARGET_MS ? 'met' : 'MISSED'} (${sync.toFixed(3)} ms)`);
}
