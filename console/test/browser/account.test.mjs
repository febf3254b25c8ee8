// The Account page shows what the API says about one account: score, band, components, history,
// the feature × week heat map, responses, alerts, traits; the audit trail for roles that may read
// it and a reason for those that may not; in Chinese with Chinese labels and dates.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, signedIn, open, apiGet } from './fixtures.mjs';

/** @type {import('playwright-core').Browser} */
let browser;
/** @type {string} */
let accountId;

before(async () => {
  browser = await launch();
  // An account with an alert when there is one (richest page), else the healthiest account.
  const alerts = await apiGet('/v1/alerts?limit=50');
  const withAccount = alerts.alerts.find((/** @type {any} */ a) => a.account_id);
  accountId = withAccount ? withAccount.account_id : (await apiGet('/v1/accounts?limit=1&sort=-score')).accounts[0].account_id;
});
after(async () => browser && (await browser.close()));

const en1 = (/** @type {number} */ v) => new Intl.NumberFormat('en', { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(v);

test('the account page shows the API numbers: score, band, components, history, heat map, responses, alerts, traits', async () => {
  const { page, problems } = await signedIn(browser, { role: 'owner' });
  const [account, history, activity, responses, alerts] = await Promise.all([
    apiGet(`/v1/accounts/${accountId}`),
    apiGet(`/v1/accounts/${accountId}/health?from=${new Date(Date.now() - 180 * 86400000).toISOString().slice(0, 10)}`),
    apiGet(`/v1/accounts/${accountId}/activity?weeks=12`),
    apiGet(`/v1/accounts/${accountId}/responses?limit=200`),
    apiGet(`/v1/alerts?account_id=${accountId}&limit=100`),
  ]);
  await open(page, `/accounts/${accountId}`);
  const health = account.health;
  assert.equal(await page.textContent('h1'), health.name || account.traits.name || accountId);
  assert.equal((await page.textContent('[data-kpi="score"] .value'))?.trim(), en1(health.score));
  assert.match(await page.textContent('[data-kpi="band"] .value') || '', new RegExp({ green: 'Green', yellow: 'Yellow', red: 'Red' }[/** @type {'red'} */ (health.band)]));

  // Why this score: one sentence per component, with the API's contribution.
  const components = await page.$$eval('li[data-component]', (els) => els.map((el) => ({ name: el.getAttribute('data-component'), points: Number(el.getAttribute('data-points')), text: el.textContent })));
  assert.equal(components.length, health.components.length);
  for (const c of health.components) {
    const shown = components.find((x) => x.name === c.name);
    assert.ok(shown, `component ${c.name} is explained`);
    assert.equal(shown.points, c.contribution);
    assert.ok(shown.text?.includes(new Intl.NumberFormat('en', { maximumFractionDigits: 1 }).format(c.contribution)), `${c.name}: ${shown.text}`);
  }
  // Sorted by points lost, biggest first.
  const lost = components.map((x) => {
    const c = health.components.find((/** @type {any} */ y) => y.name === x.name);
    return c.weight * 100 - c.contribution;
  });
  assert.deepEqual(lost, lost.slice().sort((a, b) => b - a));

  // History: one point per snapshot.
  if (history.snapshots.length) {
    const points = await page.getAttribute('[data-section="history"] figure', 'data-points');
    assert.equal(Number(points), history.snapshots.length);
    await page.waitForSelector('[data-section="history"] canvas');
    // The data table under the chart lists every day's score.
    const scores = await page.$$eval('[data-section="history"] table.data tbody td', (tds) => tds.map((td) => td.textContent));
    assert.deepEqual(scores, history.snapshots.map((/** @type {any} */ x) => (x.score === null ? '–' : en1(x.score))));
  } else assert.ok(await page.$('[data-section="history"] .empty'), 'no history says so');

  // Heat map: every non-empty feature row with the API's weekly numbers.
  const rows = await page.$$eval('table.heatmap tbody tr', (trs) => trs.map((tr) => ({ feature: tr.querySelector('th')?.textContent, values: [...tr.querySelectorAll('td')].map((td) => Number(td.getAttribute('data-value'))) })));
  const expected = activity.features.filter((/** @type {any} */ f) => f.weeks.some((/** @type {number} */ v) => v > 0)).map((/** @type {any} */ f) => ({ feature: f.feature, values: f.weeks }));
  assert.deepEqual(rows, expected);
  const headers = await page.$$eval('table.heatmap thead th', (ths) => ths.length);
  if (expected.length) assert.equal(headers, activity.weeks.length + 1);
  // Colour is not the only signal: every cell shows its number.
  const cellTexts = await page.$$eval('table.heatmap tbody td', (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(cellTexts, expected.flatMap((/** @type {any} */ f) => f.values.map((/** @type {number} */ v) => new Intl.NumberFormat('en').format(v))));

  // Comments: every response with a comment, as text.
  const withComment = responses.responses.filter((/** @type {any} */ r) => r.comment);
  const shownComments = await page.$$eval('li.comment', (els) => els.map((el) => ({ id: el.getAttribute('data-response'), text: el.querySelector('blockquote')?.textContent })));
  assert.deepEqual(shownComments, withComment.map((/** @type {any} */ r) => ({ id: r.response_id, text: r.comment })));

  // Alerts and their notes.
  const alertIds = await page.$$eval('li[data-alert]', (els) => els.map((el) => Number(el.getAttribute('data-alert'))));
  assert.deepEqual(alertIds, alerts.alerts.map((/** @type {any} */ a) => a.id));
  const inbox = await page.getAttribute('[data-section="alerts"] a[href*="/console/alerts"]', 'href');
  assert.ok(inbox?.includes(encodeURIComponent(accountId)));

  // Traits as a definition list, text only.
  const traits = await page.$$eval('dl.traits dt', (dts) => dts.map((dt) => dt.textContent));
  assert.deepEqual(traits, Object.keys(account.traits).sort());

  // Customer text (traits, comments, notes) stays text: no element inside it, whatever it says.
  assert.equal(await page.$('dl.traits dd *, li.comment blockquote *, .note-text *, .alert-item blockquote *'), null);
  assert.equal(await page.$('main script, main img[onerror]'), null);

  // The owner reads the audit trail (a table or the empty line), never the permission line.
  assert.equal(await page.$('[data-section="audit"] [data-denied]'), null);
  problems.check();
});

test('an analyst sees why the audit trail is not shown, and the rest of the page', async () => {
  const { page, problems } = await signedIn(browser, { role: 'analyst' });
  await open(page, `/accounts/${accountId}`);
  const line = await page.textContent('[data-section="audit"] [data-denied="audit:read"]');
  assert.match(line || '', /audit:read/);
  assert.match(line || '', /Analyst/);
  assert.ok(await page.$('[data-kpi="score"]'));
  problems.check();
});

test('in Simplified Chinese: Chinese headings, dates and numbers', async () => {
  const { page, problems } = await signedIn(browser, { role: 'owner', locale: 'zh-CN' });
  const account = await apiGet(`/v1/accounts/${accountId}`);
  await open(page, `/accounts/${accountId}`);
  const headings = await page.$$eval('h2', (hs) => hs.map((x) => x.textContent));
  assert.ok(headings.includes('健康分历史'), headings.join(' | '));
  assert.ok(headings.includes('为什么是这个分数'));
  assert.ok(headings.includes('功能使用情况'));
  assert.equal((await page.textContent('[data-kpi="score"] .value'))?.trim(), new Intl.NumberFormat('zh-CN', { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(account.health.score));
  assert.match(await page.textContent('.account-head .muted') || '', /\d{4}年\d{1,2}月\d{1,2}日/);
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  // The drivers and change drivers in Chinese, as many as the API's English ones.
  const drivers = await page.$$eval('[data-section="why"] ul.drivers:not(.change-drivers) li', (els) => els.map((el) => el.textContent || ''));
  assert.equal(drivers.length, account.health.drivers.length);
  for (const text of drivers) {
    assert.match(text, /^[▼▲] .*[\u4e00-\u9fff]/, text);
    assert.doesNotMatch(text, /\b(active|users|days|usage|feedback|promoters|detractors|comments|features|seats|median|baseline)\b/, text);
  }
  const changes = await page.$$eval('[data-section="why"] ul.change-drivers li', (els) => els.map((el) => el.textContent || ''));
  assert.equal(changes.length, (account.health.change_drivers || []).length);
  for (const text of changes) assert.match(text, /^[\u4e00-\u9fff]+ [+−]\d+(\.\d+)? 分$/, text);
  problems.check();
});

test('an unknown account shows the API message, not a broken page', async () => {
  const { page, problems } = await signedIn(browser, { role: 'viewer' });
  problems.allow(/404/);
  await open(page, '/accounts/acct_does_not_exist');
  const text = await page.textContent('main .error');
  assert.ok(text && text.length > 10, text || '');
  problems.check();
});
