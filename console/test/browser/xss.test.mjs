// The XSS corpus (xss-corpus.mjs) through everything a visitor's browser can send — an account's
// traits (name, plan, csm, custom traits), a user's traits, a feature name, a rating's comment —
// and what a teammate types (survey texts, an alert note), then every page that shows them: nothing
// runs (window.__pwned stays undefined), no element or handler from a payload exists, no CSP
// violation, and the account's name and the comment show verbatim as text.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { launch, signedIn, open, apiSend, stack } from './fixtures.mjs';
import { CORPUS, NAME, COMMENT, NOTE, findInjected } from './xss-corpus.mjs';

/** @type {import('playwright-core').Browser} */
let browser;
const run = randomUUID().slice(0, 8);
const ACCOUNT = `acct_xss_${run}`;
const USER = `u_xss_${run}`;
/** @type {{ survey: string | null, alert: string | null, surveyName: string }} */
const made = { survey: null, alert: null, surveyName: `${CORPUS.attributeBreak} survey ${run}` };

async function get(/** @type {string} */ path) {
  const answer = await apiSend('GET', path);
  assert.equal(answer.status, 200, `GET ${path}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** Sends events as the visitor's browser does: the write key, Basic auth. */
async function batch(/** @type {any[]} */ events) {
  const s = stack();
  const response = await fetch(`${s.url}/v1/batch`, {
    method: 'POST',
    headers: { Authorization: `Basic ${Buffer.from(`${s.write_key}:`).toString('base64')}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ batch: events }),
  });
  assert.ok(response.ok, `POST /v1/batch: ${response.status} ${await response.text()}`);
}

async function until(/** @type {() => Promise<boolean>} */ done, /** @type {string} */ what, timeout = 60_000) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`not projected within ${timeout / 1000} s: ${what}`);
}

before(async () => {
  browser = await launch();
  const now = Date.now();
  const at = (/** @type {number} */ secondsAgo) => new Date(now - secondsAgo * 1000).toISOString();
  const custom = Object.fromEntries(Object.entries(CORPUS).map(([k, v]) => [`x_${k}`, v]));
  await batch([
    { type: 'identify', userId: USER, timestamp: at(60), messageId: `xss-${run}-1`, traits: { email: `${run}@xss.test`, name: CORPUS.imgOnerror, title: CORPUS.scriptTag, ...custom } },
    { type: 'group', userId: USER, groupId: ACCOUNT, timestamp: at(59), messageId: `xss-${run}-2`,
      traits: { name: NAME, plan: CORPUS.attributeBreak, csm: CORPUS.svgOnload, seats: 7, mrr: 499, renewal_date: new Date(now + 20 * 86400e3).toISOString().slice(0, 10), ...custom } },
    { type: 'page', userId: USER, timestamp: at(58), messageId: `xss-${run}-3`, name: CORPUS.titleClose, context: { groupId: ACCOUNT } },
    { type: 'track', userId: USER, timestamp: at(50), messageId: `xss-${run}-4`, event: 'Feature Used', properties: { feature: CORPUS.svgScript }, context: { groupId: ACCOUNT } },
    { type: 'track', userId: USER, timestamp: at(40), messageId: `xss-${run}-5`, event: 'Survey Responded', context: { groupId: ACCOUNT, locale: 'zh-CN' },
      properties: { survey_id: 'srv_xss', kind: 'nps', score: 2, response_id: randomUUID(), partial: false, feature: CORPUS.detailsToggle, comment: COMMENT } },
  ]);
  // Health includes every event acked before a refresh.
  await until(async () => (await apiSend('POST', '/v1/health/refresh')).status === 200 && (await apiSend('GET', `/v1/accounts/${ACCOUNT}`)).status === 200, `the account ${ACCOUNT}`);
  await until(async () => (await get(`/v1/insights/verbatims?account=${ACCOUNT}&limit=5`)).verbatims.some((/** @type {any} */ v) => v.comment === COMMENT), 'the comment in the verbatims');
  const survey = await apiSend('POST', '/v1/surveys', {
    name: made.surveyName, kind: 'csat',
    question: { en: `${CORPUS.scriptTag} How was it? ${CORPUS.templateCurly}`, 'zh-CN': `${CORPUS.imgOnerror} 怎么样？${CORPUS.bidi}`, 'zh-TW': `${CORPUS.styleClose} 如何？` },
    follow_up: { default: { en: `${CORPUS.svgOnload} why?`, 'zh-CN': `${CORPUS.mathml} 为什么？` } },
    trigger: { event: CORPUS.attributeBreakSingle },
  });
  assert.ok(survey.status === 200 || survey.status === 201, `POST /v1/surveys: ${survey.status} ${JSON.stringify(survey.body)}`);
  made.survey = survey.body.survey_id ?? survey.body.id;
  // The detractor's comment opens an alert: a note on it, typed by a teammate, is hostile too.
  await until(async () => (await get('/v1/alerts?limit=20')).alerts.some((/** @type {any} */ a) => a.comment === COMMENT), 'the alert for the comment');
  const alert = (await get('/v1/alerts?limit=20')).alerts.find((/** @type {any} */ a) => a.comment === COMMENT);
  made.alert = String(alert.id);
  const note = await apiSend('POST', `/v1/alerts/${made.alert}/notes`, { text: NOTE });
  assert.ok(note.status < 300, `POST note: ${note.status} ${JSON.stringify(note.body)}`);
});
after(async () => {
  if (made.survey) await apiSend('DELETE', `/v1/surveys/${made.survey}`);
  await browser?.close();
});

/**
 * Opens a page and checks it: nothing injected, and each of `texts` appears verbatim in the page's text.
 * @param {import('playwright-core').Page} page
 * @param {string} path
 * @param {string[]} texts
 */
async function clean(page, path, texts = []) {
  await open(page, path);
  // Give an injected onerror/onload a moment to fire.
  await page.waitForTimeout(300);
  const injected = await page.evaluate(findInjected);
  assert.deepEqual(injected, [], `${path}: markup from the corpus became elements or ran`);
  const shown = await page.evaluate(() => document.getElementById('main')?.textContent || '');
  for (const text of texts) assert.ok(shown.includes(text), `${path}: ${JSON.stringify(text.slice(0, 60))} is not shown verbatim as text`);
}

test('the API kept the payloads verbatim (the test puts them where the pages read them)', async () => {
  const account = await get(`/v1/accounts/${ACCOUNT}`);
  assert.equal(account.traits.name, NAME);
  assert.equal(account.traits.x_controls, CORPUS.controls, 'control characters (not NUL) are kept');
  const { verbatims } = await get(`/v1/insights/verbatims?account=${ACCOUNT}&limit=5`);
  assert.ok(verbatims.some((/** @type {any} */ v) => v.comment === COMMENT));
});

test('Accounts: a hostile name, plan and csm show as text and run nothing', async () => {
  const { page, context, problems } = await signedIn(browser);
  await clean(page, `/accounts?q=${encodeURIComponent('Evil')}`, [NAME]);
  await clean(page, `/accounts?sort=-mrr`);
  await context.close();
  problems.check();
});

test('Account: name, traits, feature names, comment and user traits show as text and run nothing', async () => {
  for (const locale of /** @type {const} */ (['en', 'zh-CN'])) {
    const { page, context, problems } = await signedIn(browser, { locale });
    await clean(page, `/accounts/${ACCOUNT}`, [NAME, COMMENT]);
    await context.close();
    problems.check();
  }
});

test('Feedback: the comment shows verbatim in the verbatims, and runs nothing', async () => {
  const { page, context, problems } = await signedIn(browser);
  await clean(page, `/feedback?account=${ACCOUNT}`, [COMMENT]);
  await clean(page, '/feedback');
  await context.close();
  problems.check();
});

test('Alerts: a hostile note and account names run nothing', async () => {
  const { page, context, problems } = await signedIn(browser);
  await clean(page, '/alerts', [COMMENT]);
  await clean(page, `/alerts?alert=${made.alert}`);
  await context.close();
  problems.check();
});

test('Surveys: hostile survey texts show as text in the list and the editor, and run nothing', async () => {
  const { page, context, problems } = await signedIn(browser);
  await clean(page, '/surveys', [made.surveyName]);
  assert.ok(made.survey, 'the survey was created');
  await clean(page, `/surveys/${made.survey}`);
  await context.close();
  problems.check();
});

test('Portfolio: the hostile account in renewals and drops runs nothing', async () => {
  const { page, context, problems } = await signedIn(browser);
  await clean(page, '/');
  await context.close();
  problems.check();
});
