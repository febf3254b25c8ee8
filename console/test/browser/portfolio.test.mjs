// The Portfolio page in real Chromium against the demo stack: its numbers are /v1/portfolio's
// (totals, per band, renewals, the soonest renewals, alerts by age), and its numbers lead to the
// Accounts page with the filter that shows the accounts behind them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, signedIn, open, apiGet } from './fixtures.mjs';

/** @type {import('playwright-core').Browser} */
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

const en = (/** @type {number} */ n) => n.toLocaleString('en');
// A change driver as the page writes it: the API's "recency −1.2 points" with the component named.
const NAMES = { adoption: 'Adoption', utilisation: 'Seat utilisation', depth: 'Depth of use', trend: 'Usage trend', recency: 'Recency', feedback: 'Feedback' };
const named = (/** @type {string} */ text) => text.replace(/^(\w+) (?=[+−]\d+(\.\d+)? points$)/, (m, name) => `${NAMES[/** @type {'trend'} */ (name)] || name} `);
const band = (/** @type {any[]} */ rows, /** @type {string} */ name) => rows.find((r) => r.band === name) || { accounts: 0, mrr: 0 };

test('totals, bands, renewals and alerts are the API\'s', async () => {
  const { page, problems } = await signedIn(browser);
  await open(page, '/');
  const truth = await apiGet('/v1/portfolio?days=90');
  assert.ok(truth.current.accounts > 0, 'the demo has scored accounts');
  assert.equal(await page.textContent('[data-kpi="accounts"] .value'), en(truth.current.accounts));
  for (const name of ['green', 'yellow', 'red']) {
    const row = band(truth.current.by_band, name);
    assert.equal(await page.textContent(`[data-kpi="${name}"] .value`), en(row.accounts), `${name} accounts`);
    const share = Math.round((100 * row.accounts) / truth.current.accounts);
    assert.match(await page.textContent(`[data-kpi="${name}"]`), new RegExp(`${share}% of accounts`));
  }
  // The band counts add up to the total.
  assert.equal(['green', 'yellow', 'red'].reduce((s, n) => s + band(truth.current.by_band, n).accounts, 0), truth.current.accounts);

  // Renewals: one row per window; every cell's account count is the API's.
  for (const window of truth.renewals) {
    const cells = await page.$$eval(`table.renewals tr[data-within="${window.within_days}"] td`, (tds) => tds.map((td) => (td.querySelector('[aria-hidden]') || td).textContent.trim()));
    const expected = [window, ...['green', 'yellow', 'red'].map((n) => band(window.by_band, n))].map((r) => en(r.accounts));
    assert.deepEqual(cells.map((c) => c.split(' · ')[0]), expected, `renewals within ${window.within_days} days`);
  }

  // The soonest renewals, in the API's order, with their days to renewal.
  const rows = await page.$$eval('table.soonest tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-key'), tr.children[3].textContent.trim()]));
  assert.deepEqual(rows, truth.upcoming_renewals.map((/** @type {any} */ r) => [r.account_id, en(r.days_to_renewal)]));

  // Drops: the API's accounts with their drivers in words, or the empty state.
  const drops = await page.$$eval('table.drops tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-key'), tr.querySelector('td.drop').textContent.replace(/[↑↓\s]/g, ''), [...tr.querySelectorAll('ul.drivers li')].map((li) => li.textContent)]));
  const signed = (/** @type {number} */ v) => v.toLocaleString('en', { minimumFractionDigits: 1, maximumFractionDigits: 1, signDisplay: 'exceptZero' });
  assert.deepEqual(drops, truth.drops.map((/** @type {any} */ d) => [d.account_id, signed(d.drop), d.change_drivers.map(named)]));
  if (!truth.drops.length) assert.ok(await page.isVisible('.portfolio-drops .empty'));

  // Alerts by age: open per bucket (the data may move while other tests work alerts: compare
  // with a fresh answer when they differ).
  const openShown = await page.$$eval('table.alerts-age tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-bucket'), tr.children[1].textContent.trim()]));
  assert.deepEqual(openShown, truth.alerts_by_age.map((/** @type {any} */ b) => [b.bucket, en(b.open)]));

  // The stacked chart's data table holds one row per snapshot day.
  assert.equal(await page.locator('figure.chart').first().locator('table.data tbody tr').count(), truth.bands.length);
  problems.check();
});

test('a band and a renewal window lead to Accounts with the filter', async () => {
  const { page, problems } = await signedIn(browser);
  await open(page, '/');
  await page.click('[data-kpi="red"] a');
  await page.waitForFunction(() => location.pathname === '/console/accounts' && document.body.hasAttribute('data-ready'));
  assert.equal(new URL(page.url()).search, '?band=red');
  const red = await apiGet('/v1/accounts?band=red&limit=50');
  assert.equal(await page.$eval('.accounts-total', (el) => Number(el.getAttribute('data-total'))), red.total);
  assert.ok(await page.isChecked('input[name="band"][value="red"]'));

  await page.goBack();
  await page.waitForFunction(() => location.pathname === '/console/' && document.body.hasAttribute('data-ready'));
  const truth = await apiGet('/v1/portfolio?days=90');
  const window = truth.renewals.find((/** @type {any} */ r) => r.within_days === 30 && r.accounts > 0) || truth.renewals.find((/** @type {any} */ r) => r.accounts > 0);
  assert.ok(window, 'the demo has renewals in the next 90 days');
  await page.click(`table.renewals tr[data-within="${window.within_days}"] td:nth-child(2) a`);
  await page.waitForFunction(() => location.pathname === '/console/accounts' && document.body.hasAttribute('data-ready'));
  const query = new URL(page.url()).searchParams;
  assert.equal(query.get('renewal_within'), String(window.within_days));
  assert.equal(query.get('sort'), 'renewal');
  assert.equal(await page.$eval('.accounts-total', (el) => Number(el.getAttribute('data-total'))), window.accounts);

  // A soonest renewal's link opens that account.
  await page.goBack();
  await page.waitForFunction(() => location.pathname === '/console/' && document.body.hasAttribute('data-ready'));
  const first = truth.upcoming_renewals[0];
  await page.click(`table.soonest tr[data-key="${first.account_id}"] a`);
  await page.waitForFunction((id) => location.pathname === `/console/accounts/${id}`, first.account_id);
  problems.check();
});

test('in Chinese: texts and numbers in the locale, the same numbers', async () => {
  const { page, problems } = await signedIn(browser, { locale: 'zh-CN' });
  await open(page, '/?days=30');
  const truth = await apiGet('/v1/portfolio?days=30');
  assert.equal(await page.textContent('h1'), '客户总览');
  assert.equal(await page.textContent('[data-kpi="accounts"] .value'), truth.current.accounts.toLocaleString('zh-CN'));
  assert.equal(await page.inputValue('#portfolio-days'), '30');
  assert.equal(await page.locator('figure.chart').first().locator('table.data tbody tr').count(), truth.bands.length);
  // The drops' change drivers in Chinese: "最近活跃 −1.2 分", as many as the API gives.
  const why = await page.$$eval('table.drops tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('ul.drivers li')].map((li) => li.textContent || '')));
  assert.deepEqual(why.map((x) => x.length), truth.drops.map((/** @type {any} */ d) => d.change_drivers.length));
  for (const text of why.flat()) assert.match(text, /^[\u4e00-\u9fff]+ [+−]\d+(\.\d+)? 分$/);
  // Changing the history range re-renders with it in the URL.
  await page.selectOption('#portfolio-days', '90');
  await page.waitForFunction(() => location.search === '?days=90' && document.body.hasAttribute('data-ready'));
  problems.check();
});
