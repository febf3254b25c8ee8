// Browser tests of the rating widget: the minified core and surveys bundle (dist/), loaded by the
// pasted snippet in a real headless Chromium, against the recording test server, which also
// serves the survey config (test/browser/server.mjs). Screenshots go to test-output/ (ignored by git).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fnv1a32 } from '../../src/surveys/targeting.js';
import { sleep, waitFor } from './chromium.mjs';
import { browser, server, useServerAndBrowser } from './fixture.mjs';
import { appPageFor, focused, openPage } from './pages.mjs';
import { WRITE_KEY } from './server.mjs';

const OUTPUT = new URL('../../test-output/', import.meta.url);
mkdirSync(OUTPUT, { recursive: true });

useServerAndBrowser();

const NPS = {
  id: 'srv_nps', kind: 'nps', feature: 'reports',
  question: { en: 'How likely are you to recommend Reports to a colleague?', 'zh-CN': '您向同事推荐“报表”功能的可能性有多大？' },
  follow_up: {
    default: { en: 'What is the main reason for your score?', 'zh-CN': '您打分的主要原因是什么？' },
    detractor: { en: 'What should we fix first?' },
    passive: { en: 'What would make it a 10?' },
    promoter: { en: 'What do you like most?' },
  },
  trigger: { event: 'Report Exported', delay_ms: 400 },
  frequency: { mode: 'until_answered' },
  placement: 'popover',
};
const CSAT = {
  id: 'srv_csat', kind: 'csat', question: { en: 'How satisfied are you with exports?', 'zh-CN': '您对导出功能满意吗？' },
  follow_up: { default: { en: 'Tell us more', 'zh-CN': '请告诉我们更多' } }, trigger: { min_page_views: 1 },
  frequency: { mode: 'until_answered' }, placement: 'popover',
};
const config = (/** @type {unknown[]} */ ...surveys) => ({ cooldown_days: 14, snooze_days: 3, surveys });

/** The snippet, initialised with `options`, in <head>; `html` then `script` in <body>. */
const appPage = (/** @type {Parameters<typeof appPageFor>[1]} */ o = {}) => appPageFor(server.origin, o);
/** A fresh context (own localStorage) on `path`. */
const open = (/** @type {string} */ path, /** @type {import('playwright-core').BrowserContextOptions} */ options = {}) => openPage(browser, server.origin + path, options);

const events = (/** @type {string} */ name) => server.events().filter((e) => e.event === name);
/** @returns {Promise<any[]>} */
const waitForEvents = async (/** @type {string} */ name, count = 1) => {
  await waitFor(() => events(name).length >= count, { message: `${count} "${name}" event(s)` });
  return events(name);
};
const widget = (/** @type {import('playwright-core').Page} */ page) => page.locator('cxloop-survey');
/** Waits until the bundle has counted `n` page views for `userId` (so it has evaluated the last one). */
const pageViewsCounted = async (/** @type {import('playwright-core').Page} */ page, /** @type {string} */ userId, /** @type {number} */ n) => {
  const key = `cxloop:surveys:${WRITE_KEY}:${userId}`;
  const read = () => page.evaluate((k) => JSON.parse(localStorage.getItem(k) || '{}').pageViews, key);
  for (const end = Date.now() + 10000; (await read()) !== n && Date.now() < end;) await sleep(100);
  assert.equal(await read(), n, `${userId}: page views counted`);
};
const assertQuiet = async (/** @type {import('playwright-core').Page} */ page, /** @type {string[]} */ errors) => {
  assert.deepEqual(await page.evaluate(() => /** @type {any} */ (window).__violations || []), [], 'CSP violations');
  assert.deepEqual(errors, [], 'page or console errors');
};

describe('loading', () => {
  test('no active survey: the config is asked for, the surveys bundle is not loaded', async () => {
    server.page('/none', appPage({ script: `cxloop.identify('u-1'); cxloop.group('acct-1', { plan: 'pro' });` }));
    const { context, page, errors } = await open('/none');
    await waitFor(() => server.configRequests.length === 1, { message: 'the config request' });
    await sleep(800);
    assert.deepEqual(server.configRequests.map((r) => [r.writeKey, r.groupId, r.status]), [[WRITE_KEY, 'acct-1', 200]]);
    assert.deepEqual(server.sdkRequests, ['/sdk/v1/cxloop.min.js']);
    await page.evaluate(() => /** @type {any} */ (window).cxloop.survey('srv_nps'));
    await sleep(300);
    assert.equal(await widget(page).count(), 0);
    assert.deepEqual(server.requests.filter((r) => r.method === 'OPTIONS'), [], 'no CORS preflight');
    await assertQuiet(page, errors);
    await context.close();
  });

  test('cxloop.survey(id) through the snippet\'s stub, before the SDK has loaded', async () => {
    server.setConfig(config(CSAT));
    server.setSdkDelay(300);
    server.page('/early', appPage({ script: `cxloop.identify('u-early'); cxloop.survey('srv_csat');`, options: '{flushInterval:200,autoPage:false}' }));
    const { context, page, errors } = await open('/early');
    await widget(page).locator('.panel').waitFor();
    assert.deepEqual(server.sdkRequests, ['/sdk/v1/cxloop.min.js', '/sdk/v1/cxloop-surveys.min.js']);
    const [shown] = await waitForEvents('Survey Shown');
    assert.equal(shown.userId, 'u-early');
    await assertQuiet(page, errors);
    await context.close();
  });
});

describe('the widget', () => {
  test('appears on its trigger event after its delay; the config is revalidated with its ETag on the next page', async () => {
    server.setConfig(config(NPS));
    server.page('/reports', appPage({
      html: `<button id="export">Export</button>`,
      script: `cxloop.identify('u-1', { role: 'admin' }); cxloop.group('acct-1', { plan: 'pro' });
        document.getElementById('export').onclick = () => { window.__clickedAt = Date.now(); cxloop.track('Report Exported', { format: 'csv' }); };`,
    }));
    const { context, page, errors } = await open('/reports');
    await waitFor(() => server.sdkRequests.length === 2, { message: 'the surveys bundle' });
    await sleep(300);
    assert.equal(await widget(page).count(), 0, 'no survey before its trigger');
    await page.click('#export');
    await widget(page).locator('.panel').waitFor();
    const appearedAt = Date.now();
    const clickedAt = await page.evaluate(() => /** @type {any} */ (window).__clickedAt);
    assert.ok(appearedAt - clickedAt >= 400, 'shown before delay_ms');
    assert.equal(await widget(page).locator('.question').textContent(), NPS.question.en);
    assert.equal(await widget(page).locator('[role=radio]').count(), 11);
    const [shown] = await waitForEvents('Survey Shown');
    assert.deepEqual(shown.properties, { survey_id: 'srv_nps', kind: 'nps', feature: 'reports', placement: 'popover' });
    assert.deepEqual([shown.userId, shown.context.groupId], ['u-1', 'acct-1']);
    assert.deepEqual(server.configRequests.map((r) => [r.groupId, r.status]), [['acct-1', 200]]);

    await page.reload();
    await waitFor(() => server.configRequests.length === 2, { message: 'the second config request' });
    const [first, second] = server.configRequests;
    assert.equal(second.status, 304, 'the browser revalidated its cached config');
    assert.ok(second.ifNoneMatch && first.ifNoneMatch === undefined);
    // The cached body reached the SDK: the bundle loads, and a forced survey shows.
    await page.evaluate(() => /** @type {any} */ (window).cxloop.survey('srv_nps'));
    await widget(page).locator('.panel').waitFor();
    await assertQuiet(page, errors);
    await context.close();
  });

  test('answered with the keyboard alone: a radio group, a partial then a complete response, focus back', async () => {
    server.setConfig(config(NPS));
    server.page('/keyboard', appPage({
      html: `<main><button id="export">Export</button></main>`,
      script: `cxloop.identify('u-kb'); document.getElementById('export').onclick = () => cxloop.track('Report Exported');`,
    }));
    const { context, page, errors } = await open('/keyboard');
    await waitFor(() => server.sdkRequests.length === 2, { message: 'the surveys bundle' });
    await page.focus('#export');
    await page.keyboard.press('Enter');
    await widget(page).locator('.panel').waitFor();
    assert.equal(await focused(page), 'widget:dialog:panel popover', 'focus moves into the widget');
    const group = widget(page).locator('[role=radiogroup]');
    assert.equal(await group.getAttribute('aria-labelledby'), 'cxloop-q');
    assert.equal(await widget(page).locator('[role=dialog]').getAttribute('aria-labelledby'), 'cxloop-q');
    assert.equal(await widget(page).locator('[role=radio]').first().getAttribute('aria-label'), '0, Not likely');
    assert.equal(await widget(page).locator('[role=radio]').last().getAttribute('aria-label'), '10, Very likely');

    await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'widget:radio:radio');
    for (let i = 0; i < 9; i++) await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowLeft');
    const checked = await widget(page).locator('[role=radio][aria-checked=true]').textContent();
    assert.equal(checked, '8');
    assert.deepEqual(await widget(page).locator('[role=radio]').evaluateAll((radios) => radios.map((r) => /** @type {HTMLElement} */ (r).tabIndex).join('')), '-1'.repeat(8) + '0' + '-1'.repeat(2), 'roving tabindex');
    await page.keyboard.press('Home');
    await page.keyboard.press('End');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    assert.equal(events('Survey Responded').length, 0, 'moving the choice does not answer');
    await page.keyboard.press('Enter');

    const [partial] = await waitForEvents('Survey Responded');
    assert.equal(partial.properties.partial, true);
    assert.equal(partial.properties.score, 8);
    assert.match(partial.properties.response_id, /^[0-9a-f-]{36}$/);
    assert.equal(await widget(page).locator('label').textContent(), 'What would make it a 10?', 'the passive follow-up');
    assert.equal(await focused(page), 'widget:textarea:');
    await page.keyboard.type('Faster PDF exports');
    await page.keyboard.press('Enter');
    await widget(page).locator('.thanks').filter({ hasText: 'Thank you' }).waitFor();
    const responses = await waitForEvents('Survey Responded', 2);
    await widget(page).waitFor({ state: 'detached', timeout: 5000 });
    assert.equal(await focused(page), 'page:export', 'focus goes back where it was');
    await sleep(1500);
    assert.equal(events('Survey Responded').length, 2, 'each response sent once');
    const [first, complete] = responses;
    assert.deepEqual(complete.properties, { survey_id: 'srv_nps', kind: 'nps', feature: 'reports', response_id: first.properties.response_id, score: 8, partial: false, comment: 'Faster PDF exports' });
    assert.notEqual(first.messageId, complete.messageId);
    assert.deepEqual(events('Survey Dismissed'), []);
    await assertQuiet(page, errors);
    await context.close();
  });

  test('Chinese typed with an input method: Enter while composing does not submit', async () => {
    server.setConfig(config(CSAT));
    server.page('/ime', appPage({ options: `{flushInterval:200,locale:'zh-CN'}`, script: `cxloop.identify('u-ime');` }));
    const { context, page, errors } = await open('/ime');
    await widget(page).locator('.panel').waitFor();
    assert.equal(await widget(page).locator('.question').textContent(), '您对导出功能满意吗？');
    assert.equal(await widget(page).locator('.later').textContent(), '稍后再问');
    await widget(page).locator('[role=radio]', { hasText: '4' }).click();
    const textarea = widget(page).locator('textarea');
    await textarea.waitFor();
    assert.equal(await widget(page).locator('label').textContent(), '请告诉我们更多');
    await textarea.focus();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Input.imeSetComposition', { text: 'ni', selectionStart: 2, selectionEnd: 2 });
    await cdp.send('Input.imeSetComposition', { text: 'nihao', selectionStart: 5, selectionEnd: 5 });
    // Enter pressed to pick a candidate: the keydown has isComposing set.
    await cdp.send('Input.dispatchKeyEvent', { type: 'keyDown', key: 'Enter', code: 'Enter', windowsVirtualKeyCode: 13, nativeVirtualKeyCode: 13 });
    await cdp.send('Input.dispatchKeyEvent', { type: 'keyUp', key: 'Enter', code: 'Enter', windowsVirtualKeyCode: 13, nativeVirtualKeyCode: 13 });
    await cdp.send('Input.insertText', { text: '你好' });
    // Browsers that send the committing Enter after compositionend mark it keyCode 229; and between
    // compositionstart and compositionend no Enter submits either.
    await textarea.evaluate((area) => {
      area.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', keyCode: 229, bubbles: true, composed: true, cancelable: true }));
      area.dispatchEvent(new CompositionEvent('compositionstart', { bubbles: true }));
      area.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, composed: true, cancelable: true }));
      area.dispatchEvent(new CompositionEvent('compositionend', { bubbles: true, data: '' }));
    });
    await sleep(500);
    assert.equal(await textarea.count(), 1, 'the comment box is still open');
    assert.equal(await textarea.inputValue(), '你好');
    await page.keyboard.type('，导出很快');
    await page.keyboard.press('Enter');
    const [, complete] = await waitForEvents('Survey Responded', 2);
    assert.equal(complete.properties.comment, '你好，导出很快');
    assert.equal(complete.properties.partial, false);
    assert.equal(await widget(page).locator('.thanks').textContent(), '感谢您的反馈！');
    await assertQuiet(page, errors);
    await context.close();
  });

  test('dismissed with Escape: not shown again on reload, until the cooldown has passed', async () => {
    server.setConfig(config(CSAT));
    server.page('/dismiss', appPage({ script: `cxloop.identify('u-esc');` }));
    const { context, page, errors } = await open('/dismiss');
    await widget(page).locator('.panel').waitFor();
    await page.keyboard.press('Escape');
    await widget(page).waitFor({ state: 'detached' });
    const [dismissed] = await waitForEvents('Survey Dismissed');
    assert.deepEqual(dismissed.properties, { survey_id: 'srv_csat', kind: 'csat', reason: 'escape' });
    const key = `cxloop:surveys:${WRITE_KEY}:u-esc`;
    const state = JSON.parse(/** @type {string} */ (await page.evaluate((k) => localStorage.getItem(k), key)));
    assert.ok(state.shown.srv_csat > 0 && state.lastShown === state.shown.srv_csat);

    for (let i = 0; i < 2; i++) {
      await page.reload();
      await pageViewsCounted(page, 'u-esc', 2 + i);
      await sleep(300);
      assert.equal(await widget(page).count(), 0, 'within the cooldown');
    }
    // 15 days later, as the stored state sees it.
    await page.evaluate((k) => {
      const s = JSON.parse(/** @type {string} */ (localStorage.getItem(k)));
      const back = 15 * 864e5;
      s.shown.srv_csat -= back;
      s.lastShown -= back;
      localStorage.setItem(k, JSON.stringify(s));
    }, key);
    await page.reload();
    await widget(page).locator('.panel').waitFor();
    await waitForEvents('Survey Shown', 2);
    await assertQuiet(page, errors);
    await context.close();
  });

  test('a modal keeps Tab inside; "Ask me later" snoozes', async () => {
    server.setConfig(config({ ...CSAT, placement: 'modal' }));
    server.page('/modal', appPage({ html: `<a href="#x" id="link">link</a><button id="b">page button</button>`, script: `cxloop.identify('u-modal');` }));
    const { context, page, errors } = await open('/modal');
    await widget(page).locator('.panel').waitFor();
    assert.equal(await widget(page).locator('[role=dialog]').getAttribute('aria-modal'), 'true');
    const seen = new Set();
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press('Tab');
      seen.add(await focused(page));
    }
    assert.deepEqual([...seen].sort(), ['widget:button:close', 'widget:button:later', 'widget:radio:radio']);
    await page.keyboard.press('Shift+Tab');
    assert.ok((await focused(page)).startsWith('widget:'));
    await widget(page).locator('.later').click();
    const [dismissed] = await waitForEvents('Survey Dismissed');
    assert.equal(dismissed.properties.reason, 'snooze');
    const state = JSON.parse(/** @type {string} */ (await page.evaluate((k) => localStorage.getItem(k), `cxloop:surveys:${WRITE_KEY}:u-modal`)));
    const now = await page.evaluate(() => Date.now());
    const days = (state.snoozed.srv_csat - now) / 864e5;
    assert.ok(Math.abs(days - 3) < 0.01, `snoozed for ${days} days`);
    // Put off, not shown: neither the global cooldown nor "once" counts it.
    assert.equal(state.lastShown, 0);
    assert.equal(state.shown.srv_csat, undefined);
    await assertQuiet(page, errors);
    await context.close();
  });

  test('inline: rendered in flow into inline_selector; emoji without a follow-up completes at once', async () => {
    server.setConfig(config({ id: 'srv_inline', kind: 'emoji', question: { en: 'How was this report?' }, trigger: { url: '/inline*' }, placement: 'inline', inline_selector: '#rate-report' }));
    server.page('/inline/report', appPage({ html: `<h1>Report</h1><section id="rate-report"></section><p>after</p>`, script: `cxloop.identify('u-inline');` }));
    const { context, page, errors } = await open('/inline/report');
    await widget(page).locator('.panel').waitFor();
    assert.equal(await page.evaluate(() => /** @type {Element} */ (document.querySelector('cxloop-survey')).parentElement?.id), 'rate-report');
    assert.equal(await widget(page).locator('[role=region]').count(), 1);
    assert.equal(await focused(page), 'page:body', 'an inline survey does not take the focus');
    const labels = await widget(page).locator('[role=radio]').evaluateAll((r) => r.map((e) => e.getAttribute('aria-label')));
    assert.deepEqual(labels, ['Very unhappy', 'Unhappy', 'Neutral', 'Happy', 'Very happy']);
    await widget(page).locator('[role=radio]').nth(4).click();
    const [partial, complete] = await waitForEvents('Survey Responded', 2);
    assert.deepEqual([partial.properties.score, partial.properties.partial, complete.properties.partial, 'comment' in complete.properties], [5, true, false, false]);
    assert.equal(partial.properties.response_id, complete.properties.response_id);
    await assertQuiet(page, errors);
    await context.close();
  });

  test('the zh-TW locale: the widget\'s strings, and the question falls back to zh-CN', async () => {
    server.setConfig(config({ ...NPS, trigger: {}, question: { 'zh-CN': '简体问题', en: 'English question' } }));
    server.page('/tw', appPage({ script: `cxloop.identify('u-tw');` }));
    const { context, page } = await open('/tw', { locale: 'zh-HK' });
    await widget(page).locator('.panel').waitFor();
    assert.equal(await widget(page).locator('.question').textContent(), '简体问题');
    assert.equal(await widget(page).locator('.question').getAttribute('lang'), 'zh-CN');
    assert.equal(await widget(page).locator('.panel').getAttribute('lang'), 'zh-TW');
    assert.equal(await widget(page).locator('.later').textContent(), '稍後再問');
    assert.equal(await widget(page).locator('.close').getAttribute('aria-label'), '關閉');
    assert.deepEqual(await widget(page).locator('.ends span').allTextContents(), ['不太可能', '非常可能']);
    await context.close();
  });
});

describe('sampling', () => {
  test('is deterministic: the same users see the survey, on every load, and they are the ones fnv1a32 picks', async () => {
    const survey = { ...CSAT, id: 'srv_sampled', sample_percent: 50, frequency: { mode: 'recurring', every_days: 0 } };
    server.setConfig({ ...config(survey), cooldown_days: 0 });
    server.page('/sampled', appPage({ script: `cxloop.identify(new URLSearchParams(location.search).get('u'));` }));
    const users = Array.from({ length: 10 }, (_, i) => `user-${i}@example.com`);
    const expected = users.map((u) => fnv1a32(`srv_sampled:${u}`) % 100 < 50);
    assert.ok(expected.includes(true) && expected.includes(false), 'the sample has both kinds of user');
    const context = await browser.newContext();
    const page = await context.newPage();
    for (let round = 0; round < 2; round++) {
      const seen = [];
      for (const user of users) {
        await page.goto(`${server.origin}/sampled?u=${encodeURIComponent(user)}`);
        await pageViewsCounted(page, user, round + 1);
        await sleep(300); // the survey is shown in a timer after the page view
        seen.push(await widget(page).count() === 1);
      }
      assert.deepEqual(seen, expected, `round ${round + 1}`);
    }
    await context.close();
  });
});

describe('isolation and safety', () => {
  const HOSTILE_CSS = `<style>
    * { color: red !important; font-size: 40px !important; font-family: "Courier New", monospace !important;
        line-height: 3 !important; letter-spacing: 4px !important; text-transform: uppercase !important;
        box-sizing: content-box !important; visibility: visible; }
    div, p, button, section { padding: 30px !important; margin: 20px !important; border: 6px dashed green !important; background: yellow !important; }
    button { border-radius: 0 !important; }
    [role=dialog], [role=radio] { display: none !important; }
    body * { opacity: .4 !important; filter: grayscale(1) blur(1px) !important; transform: rotate(3deg) !important; position: relative !important; }
  </style>`;
  // Class names the widget uses, on the host page's own elements.
  const HOST_HTML = `<p class="question">host question</p><div class="panel popover">host panel</div>
    <button class="radio close later submit">host button</button><textarea class="x">host text</textarea><p hidden class="thanks">hidden</p>`;
  const STYLES = ['color', 'font-size', 'font-family', 'line-height', 'letter-spacing', 'text-transform', 'padding-top', 'margin-top',
    'border-top-width', 'border-top-style', 'border-top-color', 'border-top-left-radius', 'background-color', 'display', 'position', 'box-sizing', 'cursor', 'outline-style'];

  /** Computed styles of the widget's parts. */
  const widgetStyles = (/** @type {import('playwright-core').Page} */ page) => page.evaluate((props) => {
    const root = /** @type {ShadowRoot} */ (/** @type {Element} */ (document.querySelector('cxloop-survey')).shadowRoot);
    /** @type {Record<string, Record<string, string>>} */
    const out = {};
    for (const selector of ['.panel', '.question', '[role=radio]', '.later', '.close', '.ends span']) {
      const style = getComputedStyle(/** @type {Element} */ (root.querySelector(selector)));
      out[selector] = Object.fromEntries(props.map((p) => [p, style.getPropertyValue(p)]));
    }
    const rect = /** @type {Element} */ (root.querySelector('.panel')).getBoundingClientRect();
    out.box = { x: String(Math.round(rect.x)), y: String(Math.round(rect.y)), width: String(Math.round(rect.width)), height: String(Math.round(rect.height)) };
    // The host element is the page's: its own rules must not reach it either.
    const host = getComputedStyle(/** @type {Element} */ (document.querySelector('cxloop-survey')));
    out.host = Object.fromEntries(['opacity', 'filter', 'transform', 'position', 'display', 'color', 'font-size'].map((p) => [p, host.getPropertyValue(p)]));
    return out;
  }, STYLES);
  /** Computed styles of the host page's elements. */
  const hostStyles = (/** @type {import('playwright-core').Page} */ page) => page.evaluate((props) =>
    Array.from(document.querySelectorAll('body > p, body > div, body > button, body > textarea')).map((e) => {
      const style = getComputedStyle(e);
      return props.map((p) => style.getPropertyValue(p)).join('|');
    }), STYLES);

  test('the host page\'s aggressive CSS does not change the widget, and the widget\'s CSS does not touch the page', async () => {
    const survey = { ...NPS, trigger: {} };
    server.setConfig(config(survey));
    server.page('/clean', appPage({ html: HOST_HTML, script: `cxloop.identify('u-style');` }));
    server.page('/hostile', appPage({ head: HOSTILE_CSS, html: HOST_HTML, script: `cxloop.identify('u-style');` }));
    const viewport = { width: 1024, height: 700 };

    const clean = await open('/clean', { viewport });
    await widget(clean.page).locator('.panel').waitFor();
    await sleep(300); // the entry animation
    const reference = await widgetStyles(clean.page);
    assert.equal(reference['.panel']['background-color'], 'rgb(255, 255, 255)');
    assert.equal(reference['.question'].color, 'rgb(31, 41, 55)');
    assert.equal(reference['[role=radio]']['font-size'], '14px');
    await clean.page.screenshot({ path: new URL('widget-clean.png', OUTPUT).pathname });
    await clean.context.close();

    const hostile = await open('/hostile', { viewport });
    const hostBefore = await hostStyles(hostile.page);
    await widget(hostile.page).locator('.panel').waitFor();
    await sleep(300);
    assert.deepEqual(await widgetStyles(hostile.page), reference, 'the widget looks the same on the hostile page');
    assert.deepEqual(await hostStyles(hostile.page), hostBefore, 'the page looks the same with the widget');
    assert.equal(hostBefore.length, 5);
    assert.ok(hostBefore.every((s) => s.startsWith('rgb(255, 0, 0)|40px')), 'the hostile CSS applies to the page');
    assert.equal(await hostile.page.evaluate(() => getComputedStyle(/** @type {Element} */ (document.querySelector('body > p'))).opacity), '0.4');
    await hostile.page.screenshot({ path: new URL('widget-hostile-page.png', OUTPUT).pathname });
    await hostile.context.close();

    // Custom properties theme it, through the shadow boundary.
    server.page('/themed', appPage({ head: `<style>:root { --cxloop-accent: rgb(0, 128, 96); --cxloop-radius: 4px; --cxloop-font-size: 16px; }</style>`, script: `cxloop.identify('u-theme');` }));
    const themed = await open('/themed', { viewport });
    await widget(themed.page).locator('.panel').waitFor();
    await themed.page.keyboard.press('Tab');
    await themed.page.keyboard.press('ArrowRight');
    const styles = await widgetStyles(themed.page);
    assert.equal(styles['.panel']['border-top-left-radius'], '4px');
    assert.equal(styles['[role=radio]']['font-size'], '16px');
    assert.equal(await widget(themed.page).locator('[aria-checked=true]').evaluate((e) => getComputedStyle(e).backgroundColor), 'rgb(0, 128, 96)');
    await themed.page.screenshot({ path: new URL('widget-themed.png', OUTPUT).pathname });
    await themed.context.close();
  });

  test('on a phone the popover is a bottom sheet with usable targets', async () => {
    server.setConfig(config({ ...NPS, trigger: {} }));
    server.page('/phone', appPage({ script: `cxloop.identify('u-phone');` }));
    const { context, page } = await open('/phone', { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await widget(page).locator('.panel').waitFor();
    await sleep(300);
    const rect = await widget(page).locator('.panel').boundingBox();
    assert.ok(rect);
    assert.deepEqual([Math.round(rect.x), Math.round(rect.width), Math.round(rect.y + rect.height)], [0, 360, 740]);
    const radios = await widget(page).locator('[role=radio]').evaluateAll((r) => r.map((e) => e.getBoundingClientRect()).map((b) => [b.width, b.height, b.right]));
    assert.ok(radios.every(([w, h, right]) => w >= 24 && h >= 40 && right <= 360), JSON.stringify(radios));
    await page.screenshot({ path: new URL('widget-phone.png', OUTPUT).pathname });
    await widget(page).locator('[role=radio]').nth(9).tap();
    await widget(page).locator('textarea').waitFor();
    await page.screenshot({ path: new URL('widget-phone-comment.png', OUTPUT).pathname });
    await context.close();
  });

  test('markup in survey texts and comments is shown as text and runs nothing', async () => {
    const attack = `<img src=x onerror="window.__pwned='question'"><script>window.__pwned='script'</script>`;
    server.setConfig(config({ ...CSAT, question: { en: 'Q ' + attack }, follow_up: { default: { en: '<b onmouseover=alert(1)>Why?</b><img src=x onerror="window.__pwned=\'follow\'">' } } }));
    server.page('/xss', appPage({ script: `cxloop.identify('u-xss');` }));
    const { context, page, errors } = await open('/xss');
    await widget(page).locator('.panel').waitFor();
    assert.equal(await widget(page).locator('.question').textContent(), 'Q ' + attack);
    await widget(page).locator('[role=radio]').first().click();
    await widget(page).locator('textarea').fill(`<img src=x onerror="window.__pwned='comment'"><script>window.__pwned='c'</script>`);
    assert.match(/** @type {string} */ (await widget(page).locator('label').textContent()), /^<b onmouseover/);
    await widget(page).locator('.submit').click();
    const [, complete] = await waitForEvents('Survey Responded', 2);
    assert.equal(complete.properties.comment, `<img src=x onerror="window.__pwned='comment'"><script>window.__pwned='c'</script>`);
    await sleep(300);
    assert.equal(await page.evaluate(() => /** @type {any} */ (window).__pwned), undefined);
    assert.equal(await page.evaluate(() => document.querySelectorAll('img, b').length), 0);
    assert.equal(server.requests.filter((r) => r.path === '/x').length, 0, 'no image was requested');
    await assertQuiet(page, errors);
    await context.close();
  });

  test('a strict nonce-based CSP (script-src and style-src nonces, no unsafe-inline)', async () => {
    const nonce = 'c5pN0nce';
    server.setConfig(config({ ...CSAT, placement: 'modal' }));
    server.page('/csp-nonce', appPage({ nonce, script: `cxloop.identify('u-csp');` }),
      { 'Content-Security-Policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'none'` });
    const { context, page, errors } = await open('/csp-nonce');
    await widget(page).locator('.panel').waitFor();
    const styled = await widget(page).locator('.panel').evaluate((e) => [getComputedStyle(e).position, getComputedStyle(e).borderTopLeftRadius]);
    assert.deepEqual(styled, ['fixed', '12px'], 'the stylesheet applies under the CSP');
    assert.equal(await page.evaluate(() => /** @type {HTMLScriptElement} */ (document.querySelector('script[src*="cxloop-surveys"]')).nonce), nonce);
    await widget(page).locator('[role=radio]').nth(4).click();
    await waitForEvents('Survey Responded');
    await assertQuiet(page, errors);
    await context.close();
  });

  test('a strict CSP without inline anything: script-tag install, script-src and style-src \'self\'', async () => {
    server.setConfig(config(CSAT));
    server.script('/csp-app.js', `cxloop.ready(() => cxloop.identify('u-csp-self'));`);
    server.page('/csp-self', `<!doctype html><html><head><meta charset="utf-8"><title>CSP</title>
      <script src="/sdk/v1/cxloop.min.js" data-write-key="${WRITE_KEY}" data-flush-interval="200"></script>
      <script src="/csp-app.js" defer></script></head><body>strict</body></html>`,
    { 'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'" });
    const { context, page, errors } = await open('/csp-self');
    await widget(page).locator('.panel').waitFor();
    assert.equal(await widget(page).locator('.panel').evaluate((e) => getComputedStyle(e).position), 'fixed');
    await page.keyboard.press('Escape');
    await waitForEvents('Survey Dismissed');
    await assertQuiet(page, errors);
    await context.close();
  });

  test('the minified surveys bundle contains no eval or Function constructor', async () => {
    const { readFileSync } = await import('node:fs');
    const code = readFileSync(new URL('../../dist/cxloop-surveys.min.js', import.meta.url), 'utf8');
    assert.doesNotMatch(code, /\beval\(|new Function|Function\(|innerHTML|insertAdjacentHTML|outerHTML|document\.write/);
  });
});

describe('widget-demo', () => {
  // The demo project's surveys, as `cxloop demo` creates them (backend/cxloop/demo.py).
  const DEMO_CSAT = {
    id: 'srv_demo_csat', kind: 'csat', feature: 'reports-export', trigger: { event: 'Report Exported' },
    question: { en: 'How satisfied are you with exporting reports?', 'zh-CN': '您对报表导出功能满意吗？', 'zh-TW': '您對報表匯出功能滿意嗎？' },
    follow_up: { default: { en: 'Tell us more (optional)' }, detractor: { en: 'What went wrong?' } },
    frequency: { mode: 'until_answered' }, placement: 'popover',
  };
  const DEMO_NPS = {
    id: 'srv_demo_nps', kind: 'nps', trigger: { min_page_views: 3 },
    question: { en: 'How likely are you to recommend Acme Analytics to a colleague?' },
    follow_up: { default: { en: 'What is the main reason for your score?' }, promoter: { en: 'What do you like most?' } },
    frequency: { mode: 'recurring', every_days: 90 }, placement: 'modal',
  };

  test('a person exports a report and answers the CSAT with the mouse', async () => {
    server.setConfig(config(DEMO_CSAT, DEMO_NPS));
    const { context, page, errors } = await open('/demo/', { viewport: { width: 1280, height: 800 } });
    assert.equal(await page.locator('#user-badge').textContent(), 'Ada Lovelace');
    await page.getByRole('navigation').getByRole('link', { name: 'Exports' }).click();
    await page.locator('input[value=pdf]').check();
    await page.getByRole('button', { name: 'Export report' }).click();
    await widget(page).locator('.panel.popover').waitFor();
    await sleep(300);
    await page.screenshot({ path: new URL('demo-csat.png', OUTPUT).pathname });
    await widget(page).getByRole('radio', { name: '5, Very satisfied' }).click();
    await widget(page).getByRole('textbox', { name: 'Tell us more (optional)' }).fill('PDF export is quick');
    await widget(page).getByRole('button', { name: 'Submit' }).click();
    await widget(page).getByText('Thank you for your feedback!').waitFor();
    await page.screenshot({ path: new URL('demo-thanks.png', OUTPUT).pathname });
    const [, complete] = await waitForEvents('Survey Responded', 2);
    assert.deepEqual(complete.properties, { survey_id: 'srv_demo_csat', kind: 'csat', feature: 'reports-export', response_id: complete.properties.response_id, score: 5, partial: false, comment: 'PDF export is quick' });
    assert.deepEqual([complete.userId, complete.context.groupId], ['u_ada', 'acct_acme']);
    const exported = events('Report Exported');
    assert.deepEqual(exported.map((e) => e.properties), [{ report: 'revenue-by-plan', format: 'pdf' }]);
    assert.ok(server.configRequests.every((r) => r.groupId === 'acct_acme'));
    await assertQuiet(page, errors);
    await context.close();
  });

  test('the NPS opens as a dialog on the third page view; keyboard only; Settings lists the surveys', async () => {
    server.setConfig(config(DEMO_CSAT, DEMO_NPS));
    const { context, page, errors } = await open('/demo/', { viewport: { width: 1280, height: 800 } });
    // The page views the bundle has counted (it counts a page's view once it has loaded there).
    await pageViewsCounted(page, 'u_ada', 1);
    await page.getByRole('navigation').getByRole('link', { name: 'Reports' }).click();
    await page.waitForURL('**/reports.html');
    await pageViewsCounted(page, 'u_ada', 2);
    assert.equal(await widget(page).count(), 0, 'two page views');
    await page.getByRole('navigation').getByRole('link', { name: 'Settings' }).click();
    await widget(page).locator('.panel.modal').waitFor();
    await sleep(200);
    await page.screenshot({ path: new URL('demo-nps-modal.png', OUTPUT).pathname });
    await page.keyboard.press('Tab');
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
    await widget(page).getByRole('textbox', { name: 'What do you like most?' }).waitFor();
    await page.keyboard.type('The health scores');
    await page.keyboard.press('Enter');
    const [partial, complete] = await waitForEvents('Survey Responded', 2);
    assert.deepEqual([partial.properties.score, complete.properties.comment, complete.properties.response_id], [10, 'The health scores', partial.properties.response_id]);
    await widget(page).waitFor({ state: 'detached', timeout: 5000 });
    const items = page.locator('#survey-list li');
    await items.nth(1).waitFor();
    assert.deepEqual((await items.allTextContents()).map((t) => t.replace(/Show now$/, '').trim()), [
      'CSAT · How satisfied are you with exporting reports? · after "Report Exported"',
      'NPS · How likely are you to recommend Acme Analytics to a colleague? · after 3 page views',
    ]);
    // Forced from the QA panel, within the cooldown.
    await items.nth(0).getByRole('button', { name: 'Show now' }).click();
    await widget(page).locator('.panel.popover').waitFor();
    await page.keyboard.press('Escape');
    const [dismissed] = await waitForEvents('Survey Dismissed');
    assert.deepEqual(dismissed.properties, { survey_id: 'srv_demo_csat', kind: 'csat', feature: 'reports-export', reason: 'escape' });
    await assertQuiet(page, errors);
    await context.close();
  });
});
