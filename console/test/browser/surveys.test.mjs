// The Surveys pages in real Chromium against the demo stack: a survey created in the console (the
// API's validation message shown next to the field it names first), activated, then listed by
// GET /v1/sdk/config for the write key and shown by widget-demo; the live preview rendered by the
// real widget bundle in each language, markup in survey texts as text; pause and delete with a
// confirmation; a viewer who reads and changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launch, signedIn, open, stack } from './fixtures.mjs';
import { axe } from '../../../sdk-js/test/browser/a11y.mjs';
import { SDK_NAMES } from '../../src/pages/preview.js';

/** axe-core's serious and critical violations on a page or frame, as "id on nodes". */
const serious = async (/** @type {any} */ target) => (await axe(target)).filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} on ${v.nodes.slice(0, 3).join(' | ')}`);

/** @type {import('playwright-core').Browser} */
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** The private API with the secret key (status and parsed body). */
async function call(/** @type {string} */ method, /** @type {string} */ path, /** @type {any} */ body) {
  const s = stack();
  const response = await fetch(s.url + path, { method, headers: { Authorization: `Bearer ${s.secret_key}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

const answerTo = (/** @type {import('playwright-core').Page} */ page, /** @type {string} */ method, /** @type {RegExp} */ path) =>
  page.waitForResponse((r) => r.request().method() === method && path.test(new URL(r.url()).pathname));

const MARKUP = '<img src=x onerror="window.__pwned=1"><b>bold</b><script>window.__pwned=2</script>';

test('create a survey in the console: the API’s message next to the field, then activate it and see it in the SDK config and widget-demo', async () => {
  const { page, problems } = await signedIn(browser, { role: 'analyst' });
  const stamp = Date.now().toString(36);
  const question = `How likely are you to recommend Acme (${stamp})?`;
  await open(page, '/surveys/new');
  await page.fill('input[name="name"]', `Console NPS ${stamp}`);
  await page.fill('textarea[name="question.en"]', question);
  await page.fill('textarea[name="question.zh-CN"]', `您向同事推荐 Acme 的可能性有多大？（${stamp}）`);
  await page.fill('input[name="trigger.delay_ms"]', '700000'); // over the API's 10 minutes

  // The 400 this step provokes is logged by the browser; it is the answer the test wants.
  problems.allow(/status of 400 \(Bad Request\)/);
  const refused = answerTo(page, 'POST', /^\/v1\/surveys\/?$/);
  await page.click('button.save-survey');
  const answer = await refused;
  assert.equal(answer.status(), 400);
  const { problems: said } = await answer.json();
  const next = page.locator('[data-error-for="trigger.delay_ms"]');
  await next.waitFor();
  assert.equal(await next.textContent(), said.find((/** @type {string} */ p) => p.startsWith('trigger.delay_ms')));
  assert.match(await next.textContent(), /trigger\.delay_ms must be from 0 to 600000/);
  assert.equal(await page.getAttribute('input[name="trigger.delay_ms"]', 'aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'trigger.delay_ms', 'the focus goes to the field');
  assert.deepEqual(await serious(page), [], 'axe with the validation messages shown');

  await page.fill('input[name="trigger.delay_ms"]', '0');
  const created = answerTo(page, 'POST', /^\/v1\/surveys\/?$/);
  await page.click('button.save-survey');
  const survey = await (await created).json();
  assert.ok(survey.id);
  await page.waitForURL(`**/console/surveys/${survey.id}?created=1`);
  await page.waitForSelector('body[data-ready]');
  assert.equal(await page.textContent('.survey-state .survey-status'), 'Draft');
  assert.equal(await page.getAttribute('input[name="trigger.delay_ms"]', 'aria-invalid'), null);

  const activated = answerTo(page, 'POST', new RegExp(`/v1/surveys/${survey.id}/activate$`));
  await page.click('.survey-actions button.survey-activate');
  assert.equal((await activated).status(), 200);
  await page.waitForSelector('.survey-state .survey-status-active');
  const stored = await call('GET', `/v1/surveys/${survey.id}`);
  assert.equal(stored.body.status, 'active');
  assert.deepEqual(stored.body.question, { en: question, 'zh-CN': `您向同事推荐 Acme 的可能性有多大？（${stamp}）` });

  // The SDK's config for the project's write key lists it …
  const s = stack();
  const config = await (await fetch(`${s.url}/v1/sdk/config?writeKey=${encodeURIComponent(s.write_key)}`)).json();
  assert.ok(config.surveys.some((/** @type {any} */ c) => c.id === survey.id), 'GET /v1/sdk/config lists the new survey');

  // … and widget-demo (served at /demo/ with the demo project's write key) shows it.
  const demoCheck = await fetch(`${s.url}/demo/settings.html`);
  assert.equal(demoCheck.status, 200, 'the stack serves widget-demo at /demo/');
  const demoContext = await browser.newContext({ baseURL: s.url, locale: 'en' });
  const demo = await demoContext.newPage();
  // The demo app's errors, but for the browser's own /favicon.ico request (widget-demo has none).
  /** @type {string[]} */
  const demoProblems = [];
  demo.on('pageerror', (e) => demoProblems.push(`uncaught: ${e.message}`));
  demo.on('console', (m) => { if (m.type() === 'error' && !m.location().url.endsWith('/favicon.ico')) demoProblems.push(m.text()); });
  await demo.goto('/demo/settings.html');
  const item = demo.locator('#survey-list li', { hasText: question });
  await item.waitFor({ timeout: 15000 });
  const widget = demo.locator(`cxloop-survey[data-survey="${survey.id}"]`);
  const anyWidget = demo.locator('cxloop-survey');
  // One survey at a time: ours may show by itself (no trigger: checked on each page view), or
  // another active survey may be on screen; Esc dismisses that one, then "Show now" shows ours.
  await demo.waitForTimeout(500);
  if (!(await widget.count())) {
    for (let i = 0; i < 5 && (await anyWidget.count()); i++) {
      await demo.keyboard.press('Escape');
      await anyWidget.first().waitFor({ state: 'detached', timeout: 5000 }).catch(() => {});
    }
    await item.locator('button').click();
  }
  // The host element has no box of its own (its shadow root's panel is fixed): wait for the question.
  await widget.locator('#cxloop-q').waitFor({ timeout: 15000 });
  assert.match(await widget.locator('#cxloop-q').textContent(), new RegExp(stamp));
  assert.deepEqual(demoProblems, [], 'errors on the widget-demo page');
  await demoContext.close();
  problems.check();
});

test('the preview plugs into the built widget bundle by the names sdk-js/mangle-cache.json pins', () => {
  const pinned = JSON.parse(readFileSync(new URL('../../../sdk-js/mangle-cache.json', import.meta.url), 'utf8'));
  for (const [name, built] of Object.entries(SDK_NAMES)) assert.equal(built, pinned[name], `${name} is built as ${pinned[name]}`);
});

test('the live preview shows the question in each language with the real widget; markup stays text', async () => {
  const { page, problems } = await signedIn(browser, { role: 'owner' });
  const texts = { en: 'How easy was it to export?', 'zh-CN': `导出有多容易？${MARKUP}`, 'zh-TW': '匯出有多容易？' };
  await open(page, '/surveys/new');
  await page.selectOption('select[name="kind"]', 'ces');
  for (const [locale, text] of Object.entries(texts)) await page.fill(`textarea[name="question.${locale}"]`, text);
  const frame = page.frameLocator('iframe.preview-frame');
  for (const locale of ['en', 'zh-CN', 'zh-TW']) {
    await page.click(`#preview-tab-${locale}`);
    assert.equal(await page.getAttribute(`#preview-tab-${locale}`, 'aria-selected'), 'true');
    await frame.locator(`body[data-preview="${locale}"]`).waitFor();
    const question = frame.locator('cxloop-survey #cxloop-q');
    await question.waitFor();
    assert.equal(await question.textContent(), texts[/** @type {'en'} */ (locale)]);
  }
  // The markup typed in zh-CN was text in the widget: no element made from it, no script run.
  await page.click('#preview-tab-zh-CN');
  await frame.locator('body[data-preview="zh-CN"]').waitFor();
  const preview = page.frames().find((f) => f.url().endsWith('/console/preview'));
  assert.ok(preview);
  const found = await preview.evaluate(() => {
    const root = document.querySelector('cxloop-survey')?.shadowRoot;
    return { elements: root ? root.querySelectorAll('img, b, script').length : -1, text: root?.querySelector('#cxloop-q')?.textContent, pwned: /** @type {any} */ (window).__pwned ?? null };
  });
  assert.deepEqual(found, { elements: 0, text: texts['zh-CN'], pwned: null });
  // The widget fades in (0.2 s): measure contrast once it is opaque, not mid-animation.
  await preview.evaluate(() => Promise.all((document.querySelector('cxloop-survey')?.shadowRoot?.getAnimations() || []).map((a) => a.finished)));
  assert.deepEqual(await serious(preview), [], 'axe in the preview frame');
  assert.equal(await page.evaluate(() => /** @type {any} */ (window).__pwned ?? null), null);
  // The preview never takes the focus from the form, and sends nothing.
  await page.focus('textarea[name="question.en"]');
  await page.keyboard.type(' Really?');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'question.en');
  await page.click('#preview-tab-en');
  await frame.locator('cxloop-survey #cxloop-q', { hasText: 'Really?' }).waitFor();
  problems.check();
});

test('survey texts with markup render as text in the list and the editor; pause, then delete with a confirmation', async () => {
  const { page, problems } = await signedIn(browser, { role: 'owner' });
  const name = `${MARKUP} ${Date.now().toString(36)}`;
  const made = await call('POST', '/v1/surveys', { name, kind: 'csat', question: { en: MARKUP } });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const id = made.body.id;
  assert.equal((await call('POST', `/v1/surveys/${id}/activate`)).status, 200);
  await open(page, '/surveys');
  const row = page.locator(`tr[data-id="${id}"]`);
  assert.equal(await row.locator('th a').textContent(), name);
  assert.equal(await page.locator('.surveys-table img, .surveys-table b, .surveys-table script').count(), 0);
  // The list's numbers are the API's: one row per survey.
  const listed = await call('GET', '/v1/surveys');
  assert.equal(await page.locator('.surveys-table tbody tr').count(), listed.body.surveys.length);
  // Responses per survey are the insights API's, one request per kind.
  const from = new Date(Date.now() - 1095 * 86400000).toISOString().slice(0, 10);
  /** @type {Map<string, number>} */
  const counts = new Map();
  for (const kind of new Set(listed.body.surveys.map((/** @type {any} */ x) => x.kind))) {
    const ratings = await call('GET', `/v1/insights/ratings?kind=${kind}&group_by=survey&period=all&from=${from}`);
    for (const r of ratings.body.rows) counts.set(r.groups.survey, r.n);
  }
  assert.ok([...counts.values()].some((n) => n > 0), 'the demo has responses');
  for (const x of listed.body.surveys) {
    const shown = await page.textContent(`tr[data-id="${x.id}"] td.responses`);
    assert.equal(Number(shown?.replace(/[^\d]/g, '')), counts.get(x.id) ?? 0, `responses of ${x.id}`);
  }

  const paused = answerTo(page, 'POST', new RegExp(`/v1/surveys/${id}/pause$`));
  await row.locator('button.survey-pause').click();
  assert.equal((await paused).status(), 200);
  await row.locator('.survey-status-paused').waitFor();

  await row.locator('th a').click();
  await page.waitForSelector('body[data-ready]');
  assert.equal(await page.inputValue('textarea[name="question.en"]'), MARKUP);
  assert.equal(await page.locator('main img, main b').count(), 0);
  // Delete asks first; Cancel keeps the survey and gives the focus back.
  await page.click('button.delete-survey');
  await page.waitForSelector('dialog.confirm-delete[open]');
  await page.click('dialog.confirm-delete button.cancel');
  assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('delete-survey')), true);
  assert.equal((await call('GET', `/v1/surveys/${id}`)).status, 200);
  await page.click('button.delete-survey');
  const deleted = answerTo(page, 'DELETE', new RegExp(`/v1/surveys/${id}$`));
  await page.click('dialog.confirm-delete button.confirm');
  assert.ok((await deleted).ok());
  await page.waitForURL('**/console/surveys');
  await page.waitForSelector('body[data-ready]');
  assert.equal(await page.locator(`tr[data-id="${id}"]`).count(), 0);
  assert.equal((await call('GET', `/v1/surveys/${id}`)).status, 404);
  assert.equal(await page.evaluate(() => /** @type {any} */ (window).__pwned ?? null), null);
  problems.check();
});

test('a viewer reads surveys but cannot change them: the controls say why and no change is sent', async () => {
  const made = await call('POST', '/v1/surveys', { name: `Viewer check ${Date.now().toString(36)}`, kind: 'thumbs', question: { en: 'Was this helpful?' } });
  assert.equal(made.status, 201);
  const id = made.body.id;
  const { page, problems } = await signedIn(browser, { role: 'viewer' });
  /** @type {string[]} */
  const changes = [];
  page.on('request', (r) => { if (r.method() !== 'GET') changes.push(`${r.method()} ${new URL(r.url()).pathname}`); });
  await open(page, '/surveys');
  for (const selector of ['button.new-survey', `tr[data-id="${id}"] button.survey-activate`]) {
    const button = page.locator(selector);
    assert.equal(await button.getAttribute('aria-disabled'), 'true', `${selector} is disabled`);
    assert.match(await button.getAttribute('title') || '', /surveys:write/);
    await button.click({ force: true }); // aria-disabled: Playwright would wait for it to be enabled
  }
  await open(page, `/surveys/${id}`);
  assert.equal(await page.getAttribute('textarea[name="question.en"]', 'readonly'), '');
  for (const selector of ['button.save-survey', 'button.survey-activate', 'button.delete-survey']) {
    const button = page.locator(selector);
    assert.equal(await button.getAttribute('aria-disabled'), 'true', `${selector} is disabled`);
    assert.match(await button.getAttribute('title') || '', /surveys:write/);
    await button.click({ force: true });
  }
  assert.equal(await page.locator('dialog[open]').count(), 0, 'no confirmation opened');
  await page.waitForFunction(() => /surveys:write/.test(document.getElementById('live')?.textContent || ''));
  assert.deepEqual(changes, [], 'no change was sent to the API');
  assert.equal((await call('GET', `/v1/surveys/${id}`)).body.status, 'draft');
  await call('DELETE', `/v1/surveys/${id}`);
  problems.check();
});

test('every part of the definition round-trips: follow-ups, trigger, rules, sampling, frequency, cap, inline placement', async () => {
  const { page, problems } = await signedIn(browser, { role: 'owner', locale: 'zh-TW' });
  const stamp = Date.now().toString(36);
  await open(page, '/surveys/new');
  await page.fill('input[name="name"]', `Round trip ${stamp}`);
  await page.selectOption('select[name="kind"]', 'csat');
  await page.fill('textarea[name="question.en"]', 'How satisfied are you with exports?');
  await page.fill('textarea[name="question.zh-TW"]', '您對匯出功能滿意嗎？');
  await page.fill('input[name="feature"]', 'exports');
  await page.click('details.section > summary');
  await page.fill('input[name="follow_up.default.en"]', 'Why?');
  await page.fill('input[name="follow_up.default.zh-TW"]', '為什麼？');
  await page.fill('input[name="follow_up.detractor.en"]', 'What should we fix first?');
  await page.fill('input[name="trigger.event"]', 'Report Exported');
  await page.fill('input[name="trigger.url"]', '/app/reports*');
  await page.fill('input[name="trigger.min_page_views"]', '2');
  await page.fill('input[name="trigger.delay_ms"]', '1500');
  await page.click('button.add-rule-user');
  await page.fill('input[name="filters.user.trait"]', 'role');
  await page.fill('input[name="filters.user.value"]', 'admin');
  await page.click('button.add-rule-account');
  await page.fill('input[name="filters.account.trait"]', 'plan');
  await page.selectOption('select[name="filters.account.op"]', 'in');
  await page.fill('input[name="filters.account.value"]', '["pro","enterprise"]');
  await page.fill('input[name="sample_percent"]', '50');
  await page.selectOption('select[name="frequency.mode"]', 'recurring');
  await page.fill('input[name="frequency.every_days"]', '90');
  await page.fill('input[name="account_cap.max_responses"]', '3');
  await page.fill('input[name="account_cap.period_days"]', '30');
  await page.selectOption('select[name="placement"]', 'inline');
  await page.fill('input[name="inline_selector"]', '#rate-exports');
  // A rule the API refuses: its message shows at that rule.
  problems.allow(/status of 400 \(Bad Request\)/);
  await page.selectOption('select[name="filters.user.op"]', 'in');
  const refused = answerTo(page, 'POST', /^\/v1\/surveys\/?$/);
  await page.click('button.save-survey');
  assert.equal((await refused).status(), 400);
  const ruleError = page.locator('[data-error-for="filters.user[0]"]');
  await ruleError.waitFor();
  assert.equal(await ruleError.textContent(), "filters.user[0]: op 'in' needs a list value");
  await page.selectOption('select[name="filters.user.op"]', 'eq');
  const created = answerTo(page, 'POST', /^\/v1\/surveys\/?$/);
  await page.click('button.save-survey');
  const response = await created;
  assert.ok(response.ok(), await response.text());
  const { id } = await response.json();
  const stored = (await call('GET', `/v1/surveys/${id}`)).body;
  assert.deepEqual(
    { kind: stored.kind, question: stored.question, feature: stored.feature, follow_up: stored.follow_up, trigger: stored.trigger, filters: stored.filters, sample_percent: stored.sample_percent, frequency: stored.frequency, account_cap: stored.account_cap, placement: stored.placement, inline_selector: stored.inline_selector },
    {
      kind: 'csat',
      question: { en: 'How satisfied are you with exports?', 'zh-TW': '您對匯出功能滿意嗎？' },
      feature: 'exports',
      follow_up: { default: { en: 'Why?', 'zh-TW': '為什麼？' }, detractor: { en: 'What should we fix first?' }, passive: null, promoter: null },
      trigger: { event: 'Report Exported', url: '/app/reports*', min_page_views: 2, min_sessions: 0, delay_ms: 1500 },
      filters: { user: [{ trait: 'role', op: 'eq', value: 'admin' }], account: [{ trait: 'plan', op: 'in', value: ['pro', 'enterprise'] }] },
      sample_percent: 50,
      frequency: { mode: 'recurring', every_days: 90 },
      account_cap: { max_responses: 3, period_days: 30 },
      placement: 'inline',
      inline_selector: '#rate-exports',
    });
  // The editor shows it back; saving it unchanged (PUT) changes nothing.
  await page.waitForURL(`**/console/surveys/${id}?created=1`);
  await page.waitForSelector('body[data-ready]');
  assert.equal(await page.inputValue('input[name="filters.account.value"]'), '["pro","enterprise"]');
  assert.equal(await page.inputValue('input[name="follow_up.default.zh-TW"]'), '為什麼？');
  const saved = answerTo(page, 'PUT', new RegExp(`/v1/surveys/${id}$`));
  await page.click('button.save-survey');
  assert.equal((await saved).status(), 200);
  const again = (await call('GET', `/v1/surveys/${id}`)).body;
  assert.deepEqual({ ...again, updated_at: null }, { ...stored, updated_at: null });
  // The inline survey previews in the frame's own element, in Traditional Chinese (the console's locale).
  const frame = page.frameLocator('iframe.preview-frame');
  await frame.locator('#cxloop-preview-inline cxloop-survey #cxloop-q', { hasText: '您對匯出功能滿意嗎？' }).waitFor();
  await call('DELETE', `/v1/surveys/${id}`);
  problems.check();
});

test('the preview answers like the widget (the follow-up after a score) and sends nothing', async () => {
  const { page, problems } = await signedIn(browser, { role: 'owner' });
  /** @type {string[]} */
  const sent = [];
  page.on('request', (r) => { if (r.method() !== 'GET') sent.push(`${r.method()} ${new URL(r.url()).pathname}`); });
  await open(page, '/surveys/new?lang=zh-CN');
  await page.fill('textarea[name="question.en"]', 'How likely are you to recommend us?');
  await page.fill('textarea[name="question.zh-CN"]', '您向同事推荐我们的可能性有多大？');
  await page.click('details.section > summary');
  await page.fill('input[name="follow_up.default.zh-CN"]', '您打分的主要原因是什么？');
  await page.fill('input[name="follow_up.detractor.zh-CN"]', '我们应该先改进什么？');
  const frame = page.frameLocator('iframe.preview-frame');
  await frame.locator('cxloop-survey #cxloop-q', { hasText: '推荐' }).waitFor();
  await frame.locator('cxloop-survey [role="radio"]').nth(3).click(); // an NPS of 3: a detractor
  await frame.locator('cxloop-survey #cxloop-fq', { hasText: '我们应该先改进什么？' }).waitFor();
  await page.waitForTimeout(300);
  assert.deepEqual(sent, [], 'the preview sent nothing');
  problems.check();
});

test('without the widget bundle the preview says how to build it', async () => {
  const { page, problems } = await signedIn(browser, { role: 'owner' });
  await page.route('**/sdk/v1/cxloop-surveys.min.js', (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"code":"not_found","message":"not built"}' }));
  problems.allow(/status of 404 \(Not Found\)/);
  await open(page, '/surveys/new');
  await page.fill('textarea[name="question.en"]', 'Anyone there?');
  const frame = page.frameLocator('iframe.preview-frame');
  await frame.locator('body[data-preview="no-sdk"]').waitFor();
  assert.match(await frame.locator('.preview-status').textContent() || '', /make install-test|npm run build/);
  problems.check();
});
