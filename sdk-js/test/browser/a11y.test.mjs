// The rating widget against WCAG 2.2 AA, measured in a real Chromium on the minified bundles: axe-core
// plus what axe cannot see — where focus goes after each way of closing, whether the open popover
// hides the focused page control, reflow at 320×256 CSS px (400 % zoom), border contrast, target
// sizes at 320 px, forced colours, a raised default font size, an inert page behind the modal.
// Every kind × placement × language (en, zh-CN) × viewport. Measurement helpers: ./a11y.mjs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { axe, borders, contrast, focusedCover, targetSizes } from './a11y.mjs';
import { sleep, waitFor } from './chromium.mjs';
import { browser, server, useServerAndBrowser } from './fixture.mjs';
import { appPageFor, focused, openPage } from './pages.mjs';

/** @typedef {import('playwright-core').Page} Page */

useServerAndBrowser();

const KINDS = /** @type {const} */ (['nps', 'csat', 'ces', 'thumbs', 'emoji']);
const PLACEMENTS = /** @type {const} */ (['popover', 'modal', 'inline']);
const LOCALES = /** @type {const} */ (['en', 'zh-CN']);
const VIEWPORTS = [{ width: 1280, height: 800 }, { width: 390, height: 844 }, { width: 320, height: 568 }];
/** As long as the API allows (500 characters), in both languages. */
const LONG = {
  en: ('How likely are you to recommend the reporting module, with its scheduled exports, shared dashboards and alerts, to a colleague? ').repeat(4).slice(0, 500),
  'zh-CN': '您向同事推荐报表模块（包括定时导出、共享仪表盘和告警）的可能性有多大？'.repeat(14).slice(0, 500),
};

/**
 * A survey of `kind` shown at once with `placement`; a follow-up question unless `followUp` is false.
 * @param {typeof KINDS[number]} kind
 * @param {typeof PLACEMENTS[number]} placement
 */
const survey = (kind, placement, { question = { en: 'How was the export?', 'zh-CN': '导出功能好用吗？' }, followUp = true } = {}) => ({
  id: `srv_${kind}_${placement}`, kind, question, trigger: {}, frequency: { mode: 'until_answered' }, placement,
  ...(placement === 'inline' ? { inline_selector: '#rate' } : {}),
  ...(followUp ? { follow_up: { default: { en: 'What is the main reason?', 'zh-CN': '主要原因是什么？' } } } : {}),
});
const config = (/** @type {unknown[]} */ ...surveys) => ({ cooldown_days: 14, snooze_days: 3, surveys });

/** An app page: a search field, the inline survey's place, page controls after it, a fixed bottom bar. */
const APP_HTML = `<header><a id="home" href="#top">Acme</a></header>
<main><h1>Reports</h1><label for="q">Search</label> <input id="q">
<section id="rate" aria-label="Rate this report"></section>
<p><button id="after">Export</button></p>
<p style="margin-top:400px"><button id="far">Far below</button></p></main>
<footer style="position:fixed;bottom:0;left:0;right:0;height:48px;display:flex;justify-content:flex-end;gap:8px;padding:8px;background:#eee">
<button id="save">Save</button><button id="share">Share</button></footer>`;

let users = 0;
/**
 * Opens the app page with `surveys` in the config and waits for the widget.
 * @param {{ surveys: unknown[], viewport?: { width: number, height: number }, locale?: string, script?: string, html?: string }} o
 */
async function show({ surveys, viewport = VIEWPORTS[0], locale = 'en', script = '', html = APP_HTML }) {
  server.setConfig(config(...surveys));
  const path = `/a11y/${++users}`;
  server.page(path, appPageFor(server.origin, { html, lang: locale, options: `{flushInterval:200,locale:'${locale}'}`, script: `cxloop.identify('u-${users}');${script}` }));
  const opened = await openPage(browser, server.origin + path, { viewport });
  await opened.page.locator('cxloop-survey .panel').waitFor();
  await sleep(250); // the entry animation
  return opened;
}
const inWidget = (/** @type {Page} */ page) => page.locator('cxloop-survey');
/** Waits for the widget to go, then says what has focus. */
async function focusAfterClose(/** @type {Page} */ page, timeout = 5000) {
  await inWidget(page).waitFor({ state: 'detached', timeout });
  return focused(page);
}

describe('every kind × placement × language × viewport', () => {
  for (const viewport of VIEWPORTS) {
    for (const placement of PLACEMENTS) {
      for (const kind of KINDS) {
        for (const locale of LOCALES) {
          test(`${kind} ${placement} ${locale} ${viewport.width}×${viewport.height}`, async () => {
            const { context, page, errors } = await show({ surveys: [survey(kind, placement)], viewport, locale });
            const w = inWidget(page);
            assert.deepEqual(await axe(page), [], 'axe-core: no WCAG A/AA violation');
            const sizes = await targetSizes(page, 'cxloop-survey');
            assert.deepEqual(sizes.failing, [], '2.5.8 target size');
            assert.ok(sizes.targets.filter((t) => t.box.width < 24 || t.box.height < 24).length === 0, `every target is 24×24 or more: ${JSON.stringify(sizes.targets.map((t) => [t.name, Math.round(t.box.width), Math.round(t.box.height)]))}`);
            for (const b of await borders(page, 'cxloop-survey', '.radio')) {
              assert.ok(b.width >= 1 && contrast(b.border, b.background) >= 3, `1.4.11 border of score ${b.name}: ${b.border} on ${b.background} = ${contrast(b.border, b.background).toFixed(2)}:1`);
            }
            // 1.4.10: nothing wider than the viewport, nothing cut off sideways.
            const fit = await w.locator('.panel').evaluate((p) => {
              const r = p.getBoundingClientRect();
              return { left: r.left, right: r.right, scrollWidth: p.scrollWidth, clientWidth: p.clientWidth, page: document.documentElement.scrollWidth };
            });
            assert.ok(fit.left >= 0 && fit.right <= viewport.width + 0.5 && fit.scrollWidth <= fit.clientWidth + 1 && fit.page <= viewport.width, JSON.stringify(fit));
            if (kind === 'thumbs' || kind === 'emoji') {
              // A visible text label on every picture, the same words as its accessible name.
              const labels = await w.locator('[role=radio]').evaluateAll((radios) => radios.map((r) => {
                const name = /** @type {HTMLElement | null} */ (r.querySelector('.name'));
                return [r.getAttribute('aria-label'), name && name.getBoundingClientRect().height > 0 ? name.textContent : null];
              }));
              assert.ok(labels.every(([aria, visible]) => aria && visible === aria), JSON.stringify(labels));
            }
            // The comment step.
            await w.locator('[role=radio]').first().click();
            await w.locator('textarea').waitFor();
            for (const b of await borders(page, 'cxloop-survey', 'textarea')) {
              assert.ok(contrast(b.border, b.background) >= 3, `1.4.11 comment box border ${b.border} on ${b.background}`);
            }
            assert.deepEqual((await targetSizes(page, 'cxloop-survey')).failing, [], '2.5.8 on the comment step');
            assert.deepEqual(await axe(page), [], 'axe-core on the comment step');
            assert.deepEqual(errors, []);
            await context.close();
          });
        }
      }
    }
  }
});

describe('focus after the widget closes (2.4.3)', () => {
  // An inline survey reached with Tab from the search field: focus returns there, by every way out.
  for (const locale of LOCALES) {
    for (const how of ['×', 'Escape', 'Ask me later']) {
      test(`inline, ${locale}, closed with ${how}: focus back on the control Tab came from`, async () => {
        const { context, page } = await show({ surveys: [survey('csat', 'inline')], locale });
        await page.focus('#q');
        await page.keyboard.press('Tab');
        assert.equal(await focused(page), 'widget:radio:radio');
        // Tab order in the panel: the score, "Ask me later", ×.
        await page.keyboard.press('Tab');
        assert.equal(await focused(page), 'widget:button:later');
        if (how === '×') await page.keyboard.press('Tab');
        await page.keyboard.press(how === 'Escape' ? 'Escape' : 'Enter');
        assert.equal(await focusAfterClose(page), 'page:q');
        await context.close();
      });
    }
  }

  test('inline, answered with the keyboard, thanked, closed by itself: focus back on the search field', async () => {
    const { context, page } = await show({ surveys: [survey('emoji', 'inline', { followUp: false })], locale: 'zh-CN' });
    await page.focus('#q');
    await page.keyboard.press('Tab');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    await inWidget(page).locator('.thanks').filter({ hasText: '感谢' }).waitFor();
    assert.equal(await focused(page), 'widget:button:close', 'the thanks keep focus in the widget');
    assert.equal(await focusAfterClose(page), 'page:q');
    await context.close();
  });

  test('inline, answered with the mouse, closed by itself: focus on the next control, not <body>', async () => {
    const { context, page } = await show({ surveys: [survey('thumbs', 'inline', { followUp: false })] });
    await inWidget(page).locator('[role=radio]').last().click();
    assert.equal(await focusAfterClose(page), 'page:after');
    await context.close();
  });

  test('inline: when the person has moved on, closing does not take the focus back', async () => {
    const { context, page } = await show({ surveys: [survey('thumbs', 'inline', { followUp: false })] });
    await inWidget(page).locator('[role=radio]').last().click();
    await page.focus('#far');
    assert.equal(await focusAfterClose(page), 'page:far');
    await context.close();
  });

  test('popover opened while typing, reached with Tab, closed with Escape: focus back in the field', async () => {
    // The field has focus before the popover appears (delay), so the popover leaves it there.
    const typing = { ...survey('nps', 'popover'), trigger: { event: 'Typed', delay_ms: 300 } };
    server.setConfig(config(typing));
    server.page('/typing', appPageFor(server.origin, { html: APP_HTML, script: `cxloop.identify('u-typing');` }));
    const { context, page } = await openPage(browser, server.origin + '/typing');
    await waitFor(() => server.sdkRequests.length === 2, { message: 'the surveys bundle' });
    await page.focus('#q');
    await page.keyboard.type('revenue');
    await page.evaluate(() => /** @type {any} */ (window).cxloop.track('Typed'));
    await inWidget(page).locator('.panel').waitFor();
    assert.equal(await focused(page), 'page:q', 'the popover does not take the focus from someone typing');
    for (let i = 0; i < 10 && !(await focused(page)).startsWith('widget:'); i++) await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'widget:radio:radio', 'Tab reaches the popover');
    await page.keyboard.press('Escape');
    assert.equal(await focusAfterClose(page), 'page:q');
    await context.close();
  });

  for (const placement of /** @type {const} */ (['popover', 'modal'])) {
    test(`${placement} opened on page load: closed with ×, focus on a visible page control, not <body>`, async () => {
      const { context, page } = await show({ surveys: [survey('ces', placement)] });
      assert.equal(await focused(page), `widget:dialog:panel ${placement}`);
      await inWidget(page).locator('.close').click();
      const where = await focusAfterClose(page);
      assert.ok(where.startsWith('page:') && where !== 'page:body', where);
      const visible = await page.evaluate(() => {
        const r = /** @type {Element} */ (document.activeElement).getBoundingClientRect();
        return r.bottom > 0 && r.top < innerHeight;
      });
      assert.ok(visible, 'the control focused is in view');
      await context.close();
    });
  }

  test('modal closed by clicking its backdrop: focus back on the control that opened it', async () => {
    server.setConfig(config({ ...survey('csat', 'modal'), trigger: { event: 'Exported' } }));
    server.page('/modal-open', appPageFor(server.origin, { html: APP_HTML, script: `cxloop.identify('u-open'); document.getElementById('after').onclick = () => cxloop.track('Exported');` }));
    const { context, page } = await openPage(browser, server.origin + '/modal-open');
    await waitFor(() => server.sdkRequests.length >= 2, { message: 'the surveys bundle' });
    await page.focus('#after');
    await page.keyboard.press('Enter');
    await inWidget(page).locator('.panel').waitFor();
    assert.equal(await focused(page), 'widget:dialog:panel modal');
    await page.mouse.click(5, 5); // the backdrop
    assert.equal(await focusAfterClose(page), 'page:after');
    await context.close();
  });
});

describe('the popover does not hide the focused page control (2.4.11)', () => {
  for (const viewport of [VIEWPORTS[0], VIEWPORTS[1]]) {
    for (const locale of LOCALES) {
      test(`Tab through the page with the popover open, ${viewport.width} px, ${locale}`, async () => {
        const typing = { ...survey('nps', 'popover'), trigger: { event: 'Typed' } };
        server.setConfig(config(typing));
        server.page('/tabbing', appPageFor(server.origin, { html: APP_HTML, lang: locale, options: `{flushInterval:200,locale:'${locale}'}`, script: `cxloop.identify('u-tab-${viewport.width}-${locale}');` }));
        const { context, page } = await openPage(browser, server.origin + '/tabbing', { viewport });
        await waitFor(() => server.sdkRequests.length >= 2, { message: 'the surveys bundle' });
        await page.focus('#q');
        await page.evaluate(() => /** @type {any} */ (window).cxloop.track('Typed'));
        await inWidget(page).locator('.panel').waitFor();
        await sleep(250);
        /** @type {string[]} */
        const seen = [];
        await page.focus('#home');
        for (let i = 0; i < 8; i++) {
          const where = await focused(page);
          if (where.startsWith('page:')) {
            await sleep(50); // the frame in which the widget moves out of the way
            const cover = await focusedCover(page, 'cxloop-survey', '.panel');
            seen.push(cover.id);
            assert.ok(cover.hidden === 0, `${cover.id} is ${(cover.hidden * 100).toFixed(0)} % hidden by the popover`);
          }
          await page.keyboard.press('Tab');
        }
        for (const id of ['home', 'q', 'after', 'far', 'save', 'share']) assert.ok(seen.includes(id), `${id} was focused: ${seen}`);
        // Escape on the page puts the popover away, and leaves the focus where it is.
        await page.focus('#share');
        await page.keyboard.press('Escape');
        await inWidget(page).waitFor({ state: 'detached' });
        assert.equal(await focused(page), 'page:share');
        await waitFor(() => server.events().some((e) => e.event === 'Survey Dismissed' && e.properties.reason === 'escape'), { message: 'the dismissal' });
        await context.close();
      });
    }
  }

  test('the page\'s own Escape (default prevented) does not dismiss the popover', async () => {
    const { context, page } = await show({ surveys: [survey('csat', 'popover')], script: `document.getElementById('q').addEventListener('keydown', (e) => { if (e.key === 'Escape') e.preventDefault(); });` });
    await page.focus('#q');
    await page.keyboard.press('Escape');
    await sleep(200);
    assert.equal(await inWidget(page).count(), 1);
    await context.close();
  });
});

describe('reflow at 320×256 CSS px, a 500-character question (1.4.10)', () => {
  for (const placement of PLACEMENTS) {
    for (const locale of LOCALES) {
      test(`${placement}, ${locale}: the question's start and × can be reached`, async () => {
        const viewport = { width: 320, height: 256 };
        const { context, page, errors } = await show({ surveys: [survey('nps', placement, { question: LONG })], viewport, locale });
        const w = inWidget(page);
        if (placement !== 'inline') {
          const box = await w.locator('.panel').evaluate((p) => {
            const r = p.getBoundingClientRect();
            const s = getComputedStyle(p);
            return { top: r.top, bottom: r.bottom, left: r.left, right: r.right, overflowY: s.overflowY, scrolls: p.scrollHeight > p.clientHeight };
          });
          assert.ok(box.top >= 0 && box.bottom <= 256.5 && box.left >= 0 && box.right <= 320.5, `the panel is inside the viewport: ${JSON.stringify(box)}`);
          assert.ok(box.scrolls && (box.overflowY === 'auto' || box.overflowY === 'scroll'), `the panel scrolls: ${JSON.stringify(box)}`);
        }
        // Keyboard: × and the question's first line come into view.
        if (placement === 'inline') {
          await page.focus('#q');
          await page.keyboard.press('Tab');
        }
        for (let i = 0; i < 6 && (await focused(page)) !== 'widget:button:close'; i++) await page.keyboard.press('Tab');
        assert.equal(await focused(page), 'widget:button:close');
        const inView = (/** @type {string} */ selector) => w.locator(selector).evaluate((e) => {
          const r = e.getBoundingClientRect();
          let clip = { top: 0, bottom: innerHeight, left: 0, right: innerWidth };
          const panel = /** @type {Element} */ (/** @type {ShadowRoot} */ (e.getRootNode()).querySelector('.panel'));
          const p = panel.getBoundingClientRect();
          if (getComputedStyle(panel).overflowY !== 'visible') clip = { top: Math.max(0, p.top), bottom: Math.min(innerHeight, p.bottom), left: Math.max(0, p.left), right: Math.min(innerWidth, p.right) };
          return r.top >= clip.top - 0.5 && r.bottom <= clip.bottom + 0.5 && r.left >= clip.left - 0.5 && r.right <= clip.right + 0.5;
        });
        assert.ok(await inView('.close'), 'the focused × is in view');
        await w.locator('.question').scrollIntoViewIfNeeded();
        const start = await w.locator('.question').evaluate((q) => {
          const range = document.createRange();
          range.setStart(/** @type {Node} */ (q.firstChild), 0);
          range.setEnd(/** @type {Node} */ (q.firstChild), 1);
          const r = range.getBoundingClientRect();
          return { top: r.top, left: r.left };
        });
        assert.ok(start.top >= 0 && start.top < 256 && start.left >= 0 && start.left < 320, `the question's first character can be seen: ${JSON.stringify(start)}`);
        assert.deepEqual((await targetSizes(page, 'cxloop-survey')).failing, []);
        assert.deepEqual(errors, []);
        await context.close();
      });
    }
  }
});

describe('other conditions', () => {
  test('forced colours (Windows High Contrast): the chosen score keeps a cue of its own', async () => {
    const { context, page } = await show({ surveys: [survey('nps', 'popover')] });
    await page.emulateMedia({ forcedColors: 'active' });
    await page.keyboard.press('Tab');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Tab'); // focus leaves the scale: the choice alone must still show
    const looks = await inWidget(page).locator('[role=radio]').evaluateAll((radios) => radios.map((r) => {
      const s = getComputedStyle(r);
      return [r.getAttribute('aria-checked'), [s.backgroundColor, s.color, s.borderTopColor, s.borderTopWidth, s.outlineStyle, s.textDecorationLine].join('|')];
    }));
    const chosen = looks.filter(([checked]) => checked === 'true').map(([, look]) => look);
    const others = new Set(looks.filter(([checked]) => checked !== 'true').map(([, look]) => look));
    assert.equal(chosen.length, 1);
    assert.ok(!others.has(chosen[0]), `the chosen score looks like the others: ${chosen[0]}`);
    assert.equal(others.size, 1);
    await context.close();
  });

  test('a raised default font size in the browser makes the widget\'s text larger', async () => {
    const sizes = [];
    for (const standard of [16, 24]) {
      server.setConfig(config(survey('csat', 'popover')));
      server.page('/font', appPageFor(server.origin, { html: APP_HTML, script: `cxloop.identify('u-font-${standard}');` }));
      const context = await browser.newContext();
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Page.enable');
      await cdp.send('Page.setFontSizes', { fontSizes: { standard } });
      await page.goto(server.origin + '/font');
      await page.locator('cxloop-survey .panel').waitFor();
      sizes.push(await inWidget(page).locator('.question').evaluate((q) => parseFloat(getComputedStyle(q).fontSize)));
      const radio = await inWidget(page).locator('[role=radio]').first().evaluate((r) => r.getBoundingClientRect().height);
      assert.ok(radio >= 40, `score buttons stay at least 40 px high: ${radio}`);
      await context.close();
    }
    assert.ok(Math.abs(sizes[1] / sizes[0] - 1.5) < 0.02, `the text scales with the default size: ${sizes}`);
  });

  test('the page behind a modal is inert while it is open, and only then', async () => {
    const html = APP_HTML + '<aside id="already" inert>inert already</aside>';
    const { context, page } = await show({ surveys: [survey('csat', 'modal')], html });
    const inert = () => page.evaluate(() => ['header', 'main', 'footer', '#already'].map((s) => /** @type {HTMLElement} */ (document.querySelector(s)).inert));
    assert.deepEqual(await inert(), [true, true, true, true]);
    assert.equal(await page.evaluate(() => /** @type {HTMLElement} */ (document.querySelector('cxloop-survey')).inert), false);
    await page.keyboard.press('Escape');
    await inWidget(page).waitFor({ state: 'detached' });
    assert.deepEqual(await inert(), [false, false, false, true], 'the page\'s own inert element stays inert');
    await context.close();
  });
});
