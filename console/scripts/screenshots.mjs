// Screenshots of every console page in English and Simplified Chinese for the docs:
//
//   node scripts/screenshots.mjs [--stack stack.json] [--out ../docs/console]
//
// Writes <out>/<page>-<locale>.png (1360×900 viewport, the full page clipped to 1800 px high) on
// a demo stack started like the browser tests' (test/browser/run.mjs: `cxloop demo --accounts 40
// --days 60`) unless --stack names a running one. Chinese text needs a CJK font: Debian's
// fonts-noto-cjk (scripts/install-system-deps.sh installs it).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from '../test/browser/chromium.mjs';
import { startStack } from '../test/browser/run.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const option = (/** @type {string} */ name, /** @type {string} */ fallback) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : fallback; };
const out = resolve(option('out', join(here, '..', '..', 'docs', 'console')));
const LOCALES = ['en', 'zh-CN'];

try {
  if (!/cjk/i.test(execFileSync('fc-list', { encoding: 'utf8' }))) console.warn('warning: no CJK font (fc-list | grep -i cjk is empty): Chinese will show as boxes; install fonts-noto-cjk');
} catch { /* no fontconfig: Chromium finds what it finds */ }

const given = option('stack', '');
const running = given ? { stack: JSON.parse(readFileSync(given, 'utf8')), stop: async () => {} } : await startStack();
const { stack } = running;
const browser = await launch();
try {
  const headers = { Authorization: `Bearer ${stack.secret_key}` };
  const { accounts } = await (await fetch(`${stack.url}/v1/accounts?limit=1&sort=-mrr`, { headers })).json();
  // [file name, path, signed in]
  const pages = /** @type {[string, string, boolean][]} */ ([
    ['signin', '/sign-in', false],
    ['portfolio', '/', true],
    ['accounts', '/accounts', true],
    ['account', `/accounts/${encodeURIComponent(accounts[0].account_id)}`, true],
    ['feedback', '/feedback', true],
    ['alerts', '/alerts', true],
    ['surveys', '/surveys', true],
    ['survey-new', '/surveys/new', true],
    ...['health', 'webhooks', 'keys', 'tokens', 'members', 'privacy'].map((tab) => /** @type {[string, string, boolean]} */ ([`settings-${tab}`, `/settings/${tab}`, true])),
  ]);
  mkdirSync(out, { recursive: true });
  for (const locale of LOCALES) {
    const context = await browser.newContext({ locale, viewport: { width: 1360, height: 900 }, baseURL: stack.url, deviceScaleFactor: 1 });
    await context.addInitScript((l) => localStorage.setItem('cxloop.locale', l), locale);
    const signedOut = await browser.newContext({ locale, viewport: { width: 1360, height: 900 }, baseURL: stack.url, deviceScaleFactor: 1 });
    await signedOut.addInitScript((l) => localStorage.setItem('cxloop.locale', l), locale);
    const owner = stack.people.owner;
    const answer = await context.request.post('/v1/session', { data: { email: owner.email, password: owner.password } });
    if (answer.status() !== 200) throw new Error(`sign-in failed: ${answer.status()} ${await answer.text()}`);
    const page = await context.newPage();
    const outside = await signedOut.newPage();
    for (const [name, path, signed] of pages) {
      const p = signed ? page : outside;
      await p.goto(`/console${path}`);
      await p.waitForSelector('body[data-ready]', { timeout: 30000 });
      // Charts draw on the next frame; web fonts are the system's, so nothing else to wait for.
      await p.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const height = await p.evaluate(() => document.documentElement.scrollHeight);
      const file = join(out, `${name}-${locale}.png`);
      await p.screenshot({ path: file, fullPage: true, clip: { x: 0, y: 0, width: 1360, height: Math.min(1800, Math.max(900, height)) } });
      console.log(file);
    }
    await context.close();
    await signedOut.close();
  }
} finally {
  await browser.close();
  await running.stop();
}
