// The Alerts inbox in real Chromium against the demo stack: an alert worked end to end (assign to
// me, a note, resolve) and found in the audit log and on its account's page; two alerts resolved
// at once; the keyboard shortcuts; a viewer who can read everything and change nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, signedIn, open, stack } from './fixtures.mjs';
import { axe } from '../../../sdk-js/test/browser/a11y.mjs';

/** GET with the secret key (fixtures' apiGet reads the body twice on Node 20: see the report). */
async function apiGet(/** @type {string} */ path) {
  const s = stack();
  const response = await fetch(s.url + path, { headers: { Authorization: `Bearer ${s.secret_key}` } });
  const text = await response.text();
  assert.equal(response.status, 200, `GET ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

/** axe-core's serious and critical violations on a page or frame, as "id on nodes". */
const serious = async (/** @type {any} */ target) => (await axe(target)).filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} on ${v.nodes.slice(0, 3).join(' | ')}`);

/** @type {import('playwright-core').Browser} */
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Open alerts as the API lists them (newest first), the ones the page shows first. */
async function openAlerts() {
  const answer = await apiGet('/v1/alerts?status=open&limit=50');
  return answer.alerts;
}

/** Waits for the API's answer to a change the page makes (method + path pattern). */
const answerTo = (/** @type {import('playwright-core').Page} */ page, /** @type {string} */ method, /** @type {RegExp} */ path) =>
  page.waitForResponse((r) => r.request().method() === method && path.test(new URL(r.url()).pathname));

test('an alert worked end to end: assign to me, a note, resolve; the audit log and the account page show it', async () => {
  const { page, problems } = await signedIn(browser, { role: 'owner' });
  const me = stack().people.owner.email;
  const alerts = await openAlerts();
  assert.ok(alerts.length >= 1, 'the demo stack has an open alert');
  await open(page, '/alerts?status=open');
  // The page lists what the API lists, in its order.
  const ids = await page.$$eval('tr.alert-row', (rows) => rows.map((r) => Number(r.getAttribute('data-id'))));
  assert.deepEqual(ids.slice(0, alerts.length), alerts.map((a) => a.id));
  const alert = alerts.find((a) => a.account_id) || alerts[0];
  await page.click(`tr[data-id="${alert.id}"] button.open-alert`);
  await page.waitForSelector(`#alert-detail-title:text("${alert.id}")`);
  // The comment is shown as text, exactly.
  if (alert.comment) assert.equal(await page.textContent('.alert-comment'), alert.comment);

  const assigned = answerTo(page, 'PATCH', new RegExp(`/v1/alerts/${alert.id}$`));
  await page.click('.alerts-detail button.assign-me');
  assert.equal((await assigned).status(), 200);
  await page.waitForSelector(`.alerts-detail dd:text("${me}")`);

  const text = `Called the customer ${Date.now()}: a fix is on its way.`;
  await page.fill('.alerts-detail textarea[name="note"]', text);
  const noted = answerTo(page, 'POST', new RegExp(`/v1/alerts/${alert.id}/notes$`));
  await page.click('.alerts-detail button.add-note');
  assert.ok((await noted).ok());
  await page.waitForSelector(`.alerts-detail .note-text:text("${text}")`);

  const resolved = answerTo(page, 'PATCH', new RegExp(`/v1/alerts/${alert.id}$`));
  await page.click('.alerts-detail button.status-resolve');
  assert.equal((await resolved).status(), 200);
  await page.waitForSelector(`tr[data-id="${alert.id}"] .status-resolved`);

  // The open alert is in the URL: a reload (or a shared link) shows it again, with the note.
  assert.equal(new URL(page.url()).searchParams.get('alert'), String(alert.id));
  await page.reload();
  await page.waitForSelector('body[data-ready]');
  await page.waitForSelector(`#alert-detail-title:text("${alert.id}")`);
  await page.waitForSelector(`.alerts-detail .note-text:text("${text}")`);

  const now = await apiGet(`/v1/alerts/${alert.id}`);
  assert.equal(now.status, 'resolved');
  assert.equal(now.assignee, me);
  const note = now.notes.at(-1);
  assert.equal(note.text, text);
  assert.equal(note.author, me);

  const audit = await apiGet(`/v1/audit?object_type=alert&object_id=${alert.id}&limit=20`);
  const mine = audit.entries.filter((e) => e.actor_label === me || e.actor_id === now.notes.at(-1).author_id);
  const actions = mine.map((e) => e.action);
  assert.ok(actions.includes('alert.note_added'), `audit has the note: ${actions}`);
  assert.ok(mine.some((e) => e.action === 'alert.updated' && e.details && JSON.stringify(e.details).includes('resolved')), 'audit has the resolve');
  assert.ok(mine.some((e) => e.action === 'alert.updated' && JSON.stringify(e.details).includes(me)), 'audit has the assignment');

  if (alert.account_id) {
    await open(page, `/accounts/${encodeURIComponent(alert.account_id)}`);
    const section = page.locator('[data-section="audit"]');
    await section.waitFor();
    const shown = await section.textContent();
    assert.match(shown, /alert\.note_added/);
    assert.ok(shown.includes(`alert ${alert.id}`), 'the account page lists the alert in its audit trail');
    // Actions read as words; the code stays next to them (and in the title) for precision.
    const noted = section.locator('td[data-action="alert.note_added"]').first();
    assert.equal(await noted.locator('.action').textContent(), 'Note added to an alert');
    assert.equal(await noted.locator('.action').getAttribute('title'), 'alert.note_added');
    assert.equal(await noted.locator('code').textContent(), 'alert.note_added');
  }
  problems.check();
});

test('zh-CN: the detail says sentiment and topics in Chinese; the account audit trail names actions in Chinese', async () => {
  const { page, problems } = await signedIn(browser, { role: 'owner', locale: 'zh-CN' });
  const me = stack().people.owner.email;
  const sentiments = { positive: '正面', negative: '负面', neutral: '中性', mixed: '褒贬混合' };
  const listed = (await apiGet('/v1/alerts?limit=100')).alerts;
  // The list may leave analysis out: read each candidate in full until one is analysed.
  let alert = null;
  for (const candidate of listed.filter((a) => a.account_id && a.assignee !== me).slice(0, 20)) {
    const full = await apiGet(`/v1/alerts/${candidate.id}`);
    if (full.analysis?.sentiment) { alert = full; break; }
  }
  assert.ok(alert, 'the demo stack has an analysed alert on an account, not assigned to the owner');
  const config = await apiGet('/v1/insights/config');
  /** @type {Map<string, string>} */
  const names = new Map((config.topics || []).map((/** @type {any} */ x) => [x.id, x.names?.['zh-CN'] || x.names?.en || x.id]));
  await open(page, `/alerts?alert=${alert.id}`);
  await page.waitForSelector(`#alert-detail-title:text("${alert.id}")`);
  const sentiment = await page.textContent('.alerts-detail .sentiment');
  assert.equal(sentiment, sentiments[/** @type {keyof typeof sentiments} */ (alert.analysis.sentiment)]);
  assert.match(sentiment || '', /[\u4e00-\u9fff]/, 'the sentiment label is Chinese');
  if (alert.analysis.topics?.length) {
    assert.equal(await page.textContent('.alerts-detail .topics'), alert.analysis.topics.map((/** @type {string} */ x) => names.get(x) || x).join('、'));
  }

  // Assigning it to me writes alert.updated; the account page says so in Chinese, code alongside.
  const assigned = answerTo(page, 'PATCH', new RegExp(`/v1/alerts/${alert.id}$`));
  await page.click('.alerts-detail button.assign-me');
  assert.equal((await assigned).status(), 200);
  await open(page, `/accounts/${encodeURIComponent(alert.account_id)}`);
  const cell = page.locator('[data-section="audit"] td[data-action="alert.updated"]').first();
  await cell.waitFor();
  assert.equal(await cell.locator('.action').textContent(), '修改了预警');
  assert.equal(await cell.locator('code').textContent(), 'alert.updated');
  problems.check();
});

test('bulk: two alerts resolved and assigned to a member at once', async () => {
  const { page, problems } = await signedIn(browser, { role: 'analyst' });
  const owner = stack().people.owner.email;
  const alerts = await openAlerts();
  assert.ok(alerts.length >= 2, 'the demo stack has two open alerts');
  await open(page, '/alerts?status=open');
  const [a, b] = alerts;
  await page.check(`tr[data-id="${a.id}"] input[type="checkbox"]`);
  await page.check(`tr[data-id="${b.id}"] input[type="checkbox"]`);
  assert.match(await page.textContent('.alerts-bulk .bulk-count'), /2/);
  await page.selectOption('select[name="bulk-status"]', 'resolved');
  await page.selectOption('select[name="bulk-assignee"]', owner);
  const done = answerTo(page, 'POST', /\/v1\/alerts\/bulk$/);
  await page.click('.alerts-bulk button.bulk-apply');
  const response = await done;
  assert.equal(response.status(), 200);
  assert.deepEqual(JSON.parse(response.request().postData() || '{}'), { ids: [a.id, b.id], status: 'resolved', assignee: owner });
  assert.equal((await response.json()).updated, 2);
  await page.waitForSelector(`tr[data-id="${a.id}"] .status-resolved`);
  await page.waitForSelector(`tr[data-id="${b.id}"] .status-resolved`);
  for (const alert of [a, b]) {
    const now = await apiGet(`/v1/alerts/${alert.id}`);
    assert.deepEqual([now.status, now.assignee], ['resolved', owner]);
  }
  assert.match(await page.textContent('.alerts-bulk'), /2 alerts changed/);
  assert.equal(await page.locator('tr.alert-row input[type="checkbox"]:checked').count(), 0, 'the selection is cleared');
  problems.check();
});

test('keyboard shortcuts: move, select, open, note, assign to me, resolve, help; never while typing', async () => {
  const { page, problems } = await signedIn(browser, { role: 'analyst' });
  const me = stack().people.analyst.email;
  const alerts = await openAlerts();
  assert.ok(alerts.length >= 2, 'the demo stack has two open alerts');
  await open(page, '/alerts?status=open');
  const current = () => page.getAttribute('tr.is-current', 'data-id').then(Number);
  assert.equal(await current(), alerts[0].id);
  // The shortcuts are listed on the page.
  for (const key of ['j', 'k', 'x', 'Enter', 'a', 'r', 'n', '?']) assert.ok(await page.locator('.shortcut-list kbd', { hasText: key }).count() >= 1, `${key} is listed`);

  await page.keyboard.press('j');
  assert.equal(await current(), alerts[1].id);
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-id')), String(alerts[1].id), 'the focus follows');
  await page.keyboard.press('ArrowUp');
  assert.equal(await current(), alerts[0].id);
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('k');
  assert.equal(await current(), alerts[0].id);

  await page.keyboard.press('x');
  assert.equal(await page.isChecked(`tr[data-id="${alerts[0].id}"] input[type="checkbox"]`), true);
  assert.match(await page.textContent('.alerts-bulk .bulk-count'), /1/);
  await page.keyboard.press('x');
  assert.equal(await page.isChecked(`tr[data-id="${alerts[0].id}"] input[type="checkbox"]`), false);

  await page.keyboard.press('Enter');
  await page.waitForSelector(`#alert-detail-title:text("${alerts[0].id}")`);
  assert.deepEqual(await serious(page), [], 'axe with the detail panel open');

  // n: the note box; typing there never fires a shortcut (no PATCH for the 'a' and 'r' typed).
  /** @type {string[]} */
  const changes = [];
  page.on('request', (r) => { if (r.method() !== 'GET') changes.push(`${r.method()} ${new URL(r.url()).pathname}`); });
  await page.keyboard.press('n');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'note');
  await page.keyboard.type('a r x j');
  assert.equal(await page.inputValue('textarea[name="note"]'), 'a r x j');
  assert.deepEqual(changes, []);
  assert.equal(await current(), alerts[0].id);

  // Back on the highlighted row, a and r act on it.
  await page.evaluate(() => /** @type {HTMLElement} */ (document.querySelector('tr.is-current'))?.focus());
  const assigned = answerTo(page, 'PATCH', new RegExp(`/v1/alerts/${alerts[0].id}$`));
  await page.keyboard.press('a');
  assert.equal((await assigned).status(), 200);
  const resolved = answerTo(page, 'PATCH', new RegExp(`/v1/alerts/${alerts[0].id}$`));
  await page.keyboard.press('r');
  assert.equal((await resolved).status(), 200);
  const now = await apiGet(`/v1/alerts/${alerts[0].id}`);
  assert.equal(now.assignee, me);
  assert.equal(now.status, 'resolved');

  // ?: the shortcuts in a dialog; Esc closes it and the focus comes back.
  await page.keyboard.press('?');
  await page.waitForSelector('dialog.shortcuts-dialog[open]');
  assert.match(await page.textContent('dialog.shortcuts-dialog'), /Resolve the highlighted alert/);
  assert.deepEqual(await serious(page), [], 'axe with the shortcuts dialog open');
  await page.keyboard.press('Escape');
  await page.waitForSelector('dialog.shortcuts-dialog:not([open])', { state: 'attached' });
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-id')), String(alerts[0].id));
  problems.check();
});

test('a viewer reads alerts but cannot change them: the controls say why and no change is sent', async () => {
  const { page, problems } = await signedIn(browser, { role: 'viewer' });
  const alerts = await openAlerts();
  assert.ok(alerts.length >= 1);
  /** @type {string[]} */
  const changes = [];
  page.on('request', (r) => { if (r.method() !== 'GET') changes.push(`${r.method()} ${new URL(r.url()).pathname}`); });
  await open(page, '/alerts?status=open');
  await page.click(`tr[data-id="${alerts[0].id}"] button.open-alert`);
  await page.waitForSelector(`#alert-detail-title:text("${alerts[0].id}")`);
  for (const selector of ['.alerts-detail button.status-resolve', '.alerts-detail button.assign-me', '.alerts-detail button.assign', '.alerts-detail button.add-note', '.alerts-bulk button.bulk-apply']) {
    const button = page.locator(selector);
    assert.equal(await button.getAttribute('aria-disabled'), 'true', `${selector} is disabled`);
    assert.match(await button.getAttribute('title') || '', /alerts:write/, `${selector} says why`);
    await button.click({ force: true }); // aria-disabled: Playwright would wait for it to be enabled
  }
  assert.equal(await page.isDisabled('textarea[name="note"]'), true);
  assert.match(await page.textContent('.note-form .hint'), /alerts:write/);
  await page.check(`tr[data-id="${alerts[0].id}"] input[type="checkbox"]`);
  await page.click('.alerts-bulk button.bulk-apply', { force: true });
  for (const key of ['a', 'r', 'n']) await page.keyboard.press(key);
  await page.waitForFunction(() => /alerts:write/.test(document.getElementById('live')?.textContent || ''));
  assert.deepEqual(changes, [], 'no change was sent to the API');
  assert.equal((await apiGet(`/v1/alerts/${alerts[0].id}`)).status, 'open');
  problems.check();
});

test('filters change the list, live in the URL and survive a reload', async () => {
  const { page, problems } = await signedIn(browser, { role: 'viewer', locale: 'zh-CN' });
  await open(page, '/alerts');
  const rows = () => page.$$eval('tr.alert-row', (trs) => trs.map((r) => Number(r.getAttribute('data-id'))));
  const all = await apiGet('/v1/alerts?limit=50');
  assert.deepEqual(await rows(), all.alerts.map((/** @type {any} */ a) => a.id));
  const counted = await page.textContent('.alerts-main [role="status"]');
  assert.ok(counted?.includes(String(all.alerts.length)), `the count says ${all.alerts.length}: ${counted}`);

  for (const [name, value] of [['status', 'resolved'], ['status', 'open']]) {
    const listed = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/alerts' && new URL(r.url()).searchParams.get(name) === value);
    await page.selectOption(`select[name="${name}"]`, value);
    await listed;
    await page.waitForSelector('body[data-ready]');
    const want = await apiGet(`/v1/alerts?${name}=${value}&limit=50`);
    assert.deepEqual(await rows(), want.alerts.map((/** @type {any} */ a) => a.id), `${name}=${value}`);
    assert.equal(new URL(page.url()).searchParams.get(name), value);
    for (const status of await page.$$eval('tr.alert-row .status', (els) => els.map((e) => e.className))) assert.match(status, new RegExp(`status-${value}`));
  }
  // The filtered view is a URL: reloading shows the same list with the same control values.
  await page.reload();
  await page.waitForSelector('body[data-ready]');
  assert.equal(await page.inputValue('select[name="status"]'), 'open');
  const want = await apiGet('/v1/alerts?status=open&limit=50');
  assert.deepEqual(await rows(), want.alerts.map((/** @type {any} */ a) => a.id));
  // Texts in Simplified Chinese.
  assert.equal(await page.textContent('main h1'), '预警收件箱');
  problems.check();
});
