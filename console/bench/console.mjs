// The console's speed with a large portfolio, in Chromium, from navigation start to the page's
// `cx:ready` performance mark (set when the page shows its data):
//
//   node bench/console.mjs [--accounts 5000] [--days 90] [--runs 7] [--stack stack.json]
//
// Starts a throw-away cxloop (bench/stack.py: `cxloop serve` on an embedded PostgreSQL, a project
// and its owner, bench/seed_portfolio.py's accounts × days) unless --stack names a running one, then
// measures the sign-in page (the shell with no data: the baseline), Portfolio, Accounts and one
// Account page, cold (a new browser context: empty cache, first load) and warm (a reload), `runs`
// times each, alternating pages. Prints median, p90 and the ratio of medians to the baseline,
// pass/fail against the targets (Portfolio and Accounts < 1000 ms, Account < 500 ms), and the
// console's JavaScript and CSS weight (raw and gzip, and uPlot's share of the bundle), and writes
// bench/results/console-<date>.json.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { createInterface } from 'node:readline';
import os from 'node:os';
import { build } from 'esbuild';
import { launch } from '../test/browser/chromium.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const consoleDir = resolve(here, '..');
const repo = resolve(consoleDir, '..');
const argv = process.argv.slice(2);
const option = (/** @type {string} */ name, /** @type {string} */ fallback) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : fallback; };
const ACCOUNTS = Number(option('accounts', '5000'));
const DAYS = Number(option('days', '90'));
const RUNS = Number(option('runs', '7'));
const TARGETS = { portfolio: 1000, accounts: 1000, account: 500 };

/** Starts bench/stack.py; resolves with its JSON line and a stop function. */
async function startStack() {
  const python = process.env.CXLOOP_PYTHON || join(repo, '.venv', 'bin', 'python');
  const child = spawn(python, [join(here, 'stack.py'), '--accounts', String(ACCOUNTS), '--days', String(DAYS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: /** @type {any} */ (child.stdout) });
  const stack = await new Promise((done, fail) => {
    child.on('exit', (code) => fail(new Error(`bench/stack.py exited with ${code} before it was ready`)));
    lines.on('line', (line) => { if (line.startsWith('{')) done(JSON.parse(line)); });
  });
  const stop = () => new Promise((done) => { child.once('exit', done); /** @type {any} */ (child.stdin).end(); });
  return { stack, stop };
}

const quantile = (/** @type {number[]} */ xs, /** @type {number} */ q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]; };

/** The console's bundle by part: esbuild's metafile of the same build as scripts/build.mjs. */
async function weight() {
  const manifest = JSON.parse(readFileSync(join(repo, 'backend', 'cxloop', 'console', 'static', 'manifest.json'), 'utf8'));
  const result = await build({ entryPoints: [join(consoleDir, 'src', 'main.js')], bundle: true, minify: true, format: 'esm', target: ['es2020', 'chrome100', 'firefox100', 'safari15'], legalComments: 'none', write: false, metafile: true, logLevel: 'error' });
  const inputs = Object.values(result.metafile.outputs)[0].inputs;
  /** @type {Record<string, number>} */
  const parts = {};
  for (const [path, { bytesInOutput }] of Object.entries(inputs)) {
    const part = path.includes('node_modules/uplot') ? 'uplot' : path.includes('/pages/') ? `pages/${path.split('/pages/')[1].split('/')[0].replace(/\.js$/, '')}` : 'core';
    parts[part] = (parts[part] || 0) + bytesInOutput;
  }
  const js = result.outputFiles[0].contents;
  const uplotOnly = await build({ stdin: { contents: "import uPlot from 'uplot'; globalThis.u = uPlot;", resolveDir: consoleDir }, bundle: true, minify: true, format: 'esm', write: false, legalComments: 'none', logLevel: 'error' });
  // What the first visit to each page downloads: the entry, its preloaded chunks, the page's own.
  const first = Object.fromEntries(Object.entries(manifest.pages || {}).map(([page, chunks]) => {
    const files = [manifest.files['console.js'], ...(manifest.preload || []), .../** @type {string[]} */ (chunks)];
    return [page, files.reduce((sum, f) => ({ bytes: sum.bytes + manifest.sizes[f].bytes, gzip: sum.gzip + manifest.sizes[f].gzip }), { bytes: 0, gzip: 0 })];
  }));
  return {
    manifest: manifest.sizes,
    total: manifest.total,
    files: manifest.files,
    first_load: first,
    js: { bytes: js.length, gzip: gzipSync(js, { level: 9 }).length },
    uplot_alone: { bytes: uplotOnly.outputFiles[0].contents.length, gzip: gzipSync(uplotOnly.outputFiles[0].contents, { level: 9 }).length },
    parts_bytes: Object.fromEntries(Object.entries(parts).sort((a, b) => b[1] - a[1])),
  };
}

async function main() {
  const given = option('stack', '');
  const started = Date.now();
  const running = given ? { stack: JSON.parse(readFileSync(given, 'utf8')), stop: async () => {} } : await startStack();
  const { stack } = running;
  console.log(`stack ${stack.url} (${given ? 'given' : `${ACCOUNTS} accounts × ${DAYS} days, seeded in ${stack.seed_seconds} s, ready in ${((Date.now() - started) / 1000).toFixed(1)} s`})`);
  const browser = await launch();
  try {
    const headers = { Authorization: `Bearer ${stack.secret_key}` };
    const first = await (await fetch(`${stack.url}/v1/accounts?limit=1&sort=-mrr`, { headers })).json();
    const total = first.total;
    const accountId = first.accounts[0].account_id;
    const pages = /** @type {[string, string, boolean][]} */ ([
      ['signin', '/console/sign-in', false], ['portfolio', '/console/', true], ['accounts', '/console/accounts', true], ['account', `/console/accounts/${encodeURIComponent(accountId)}`, true],
    ]);
    const owner = stack.people.owner;
    /** A new context (cold cache), signed in unless it is the baseline. */
    const context = async (/** @type {boolean} */ signed) => {
      const c = await browser.newContext({ baseURL: stack.url, viewport: { width: 1360, height: 900 }, locale: 'en' });
      if (signed) {
        const answer = await c.request.post('/v1/session', { data: { email: owner.email, password: owner.password } });
        if (answer.status() !== 200) throw new Error(`sign-in: ${answer.status()} ${await answer.text()}`);
      }
      return c;
    };
    const measure = async (/** @type {import('playwright-core').Page} */ page, /** @type {string} */ name) => {
      try {
        await page.waitForSelector('body[data-ready]', { timeout: 30000 });
      } catch (error) {
        const shown = await page.evaluate(() => document.getElementById('app')?.textContent?.slice(0, 300) || '(empty)').catch(() => '(no page)');
        throw new Error(`${name} (${page.url()}) was not ready in 30 s: ${[...(/** @type {any} */ (page).__problems || [])].join('; ') || 'no error on the page'}; it shows: ${shown}`);
      }
      const { ready, error, requests } = await page.evaluate(() => ({
        ready: performance.getEntriesByName('cx:ready')[0]?.startTime,
        error: document.querySelector('main .error[role=alert]')?.textContent || null,
        // The API requests before the page was ready: where the time goes.
        requests: performance.getEntriesByType('resource').filter((r) => r.name.includes('/v1/'))
          .map((r) => [new URL(r.name).pathname, Math.round(/** @type {PerformanceResourceTiming} */ (r).responseEnd - r.startTime)]),
      }));
      if (error) throw new Error(`${name} showed an error: ${error}`);
      for (const [path, ms] of requests) ((api[name] ??= {})[String(path)] ??= []).push(Number(ms));
      return ready;
    };
    /** @type {Record<string, Record<string, number[]>>} the API requests' durations by page and path */
    const api = {};
    /** @type {Record<string, { cold: number[], warm: number[] }>} */
    const times = Object.fromEntries(pages.map(([name]) => [name, { cold: [], warm: [] }]));
    // One untimed round first: the server's and the database's caches as a team member finds them.
    for (const [name, path, signed] of pages) { const c = await context(signed); const p = await c.newPage(); await p.goto(path); await measure(p, name); await c.close(); }
    for (let run = 0; run < RUNS; run++) {
      for (const [name, path, signed] of pages) {
        const c = await context(signed);
        const page = await c.newPage();
        const problems = /** @type {any} */ (page).__problems = /** @type {string[]} */ ([]);
        page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
        page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
        await page.goto(path);
        times[name].cold.push(await measure(page, name));
        await page.reload();
        times[name].warm.push(await measure(page, name));
        await c.close();
      }
    }
    const base = { cold: quantile(times.signin.cold, 0.5), warm: quantile(times.signin.warm, 0.5) };
    /** @type {Record<string, any>} */
    const summary = {};
    console.log(`\n${'page'.padEnd(10)} ${'cold median'.padStart(12)} ${'p90'.padStart(7)} ${'× base'.padStart(7)}   ${'warm median'.padStart(12)} ${'p90'.padStart(7)} ${'× base'.padStart(7)}   target`);
    let failed = false;
    for (const [name] of pages) {
      const t = times[name];
      const row = {
        cold: { median: quantile(t.cold, 0.5), p90: quantile(t.cold, 0.9), ratio: quantile(t.cold, 0.5) / base.cold, runs: t.cold },
        warm: { median: quantile(t.warm, 0.5), p90: quantile(t.warm, 0.9), ratio: quantile(t.warm, 0.5) / base.warm, runs: t.warm },
        target_ms: /** @type {any} */ (TARGETS)[name] ?? null,
      };
      const pass = row.target_ms === null ? null : row.cold.median < row.target_ms && row.warm.median < row.target_ms;
      if (pass === false) failed = true;
      summary[name] = { ...row, pass };
      const ms = (/** @type {number} */ x) => `${x.toFixed(0)} ms`.padStart(7);
      console.log(`${name.padEnd(10)} ${ms(row.cold.median).padStart(12)} ${ms(row.cold.p90)} ${row.cold.ratio.toFixed(2).padStart(7)}   ${ms(row.warm.median).padStart(12)} ${ms(row.warm.p90)} ${row.warm.ratio.toFixed(2).padStart(7)}   ${row.target_ms === null ? 'baseline' : `< ${row.target_ms} ms (medians): ${pass ? 'pass' : 'FAIL'}`}`);
    }
    for (const [name, paths] of Object.entries(api)) {
      const slow = Object.entries(paths).map(([path, ms]) => [path, quantile(ms, 0.5)]).sort((a, b) => Number(b[1]) - Number(a[1])).slice(0, 4);
      console.log(`  ${name}: API medians ${slow.map(([p, ms]) => `${p} ${ms} ms`).join(', ')}`);
      summary[name] = { ...summary[name], api_median_ms: Object.fromEntries(Object.entries(paths).map(([path, ms]) => [path, quantile(ms, 0.5)])) };
    }
    const w = await weight();
    const css = w.manifest[w.files['console.css']];
    console.log(`\nJavaScript ${w.total.bytes} B (${w.total.gzip} B gzip) in all; console.css ${css.bytes} B (${css.gzip} B gzip)`);
    console.log(`first load of a page (entry + shared chunks + its own): ${Object.entries(w.first_load).map(([p, s]) => `${p} ${s.bytes} B (${s.gzip} gzip)`).join(', ')}`);
    console.log(`uPlot alone ${w.uplot_alone.bytes} B (${w.uplot_alone.gzip} B gzip); bundle bytes by part: ${Object.entries(w.parts_bytes).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    const result = {
      command: `node bench/console.mjs ${argv.join(' ')}`.trim(),
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memory_gb: Math.round(os.totalmem() / 2 ** 30) },
      chromium: browser.version(),
      accounts: total, days: given ? null : DAYS, runs: RUNS, account_id: accountId,
      measure: 'navigation start → performance mark cx:ready (ms), Chromium headless, 1360×900; cold = new context (empty cache), warm = reload',
      pages: summary,
      weight: w,
    };
    mkdirSync(join(repo, 'bench', 'results'), { recursive: true });
    const file = join(repo, 'bench', 'results', `console-${result.date.slice(0, 10)}.json`);
    writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
    console.log(`\nwrote ${file}`);
    process.exitCode = failed ? 1 : 0;
  } finally {
    await browser.close();
    await running.stop();
  }
}

await main();
