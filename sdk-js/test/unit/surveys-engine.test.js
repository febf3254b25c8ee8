// The surveys engine with a fake clock, a memory store and a fake widget: which survey shows
// when, what state it leaves, and which events it sends. (The real widget and the minified
// bundles are tested in Chromium: test/browser/surveys.test.mjs.)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createStore } from '../../src/storage.js';
import { createSurveys } from '../../src/surveys/engine.js';
import { DAY_MS } from '../../src/surveys/targeting.js';
import { Clock } from '../helpers/fake-browser.js';

const WRITE_KEY = 'wk_engine';
const NPS = { id: 'srv_nps', kind: 'nps', question: { en: 'Recommend us?' }, trigger: { min_page_views: 3 }, frequency: { mode: 'until_answered' } };
const CSAT = {
  id: 'srv_csat', kind: 'csat', question: { en: 'Happy with exports?', 'zh-CN': '满意吗？' }, feature: 'exports',
  trigger: { event: 'Report Exported', delay_ms: 1500 }, placement: 'modal', follow_up: { default: { en: 'Why?' } },
};

/**
 * An engine over a fake SDK: `page()`, `track()`, `identify()`, `group()` and `survey()` feed it
 * calls shaped as the core's; `widgets` are the surveys rendered, with the events they may report.
 */
function harness(/** @type {any[]} */ surveys, { config = {}, options = {}, user = { anonymousId: 'anon-1', userId: /** @type {string | null} */ ('user-1'), groupId: /** @type {string | null} */ (null) } } = {}) {
  const clock = new Clock(Date.UTC(2026, 3, 1, 9));
  const store = createStore(null, false);
  const sent = /** @type {{ event: string, properties: any }[]} */ ([]);
  const warnings = /** @type {unknown[][]} */ ([]);
  const widgets = /** @type {{ survey: any, locale: string, events: import('../../src/surveys/widget.js').WidgetEvents, open: boolean }[]} */ ([]);
  let path = '/app';
  const ids = { ...user };
  const api = {
    track: (/** @type {string} */ event, /** @type {any} */ properties) => {
      sent.push({ event, properties });
      engine._handle(['track', { event, properties }, { path }, clock.now, ids.anonymousId, ids.userId, ids.groupId]);
    },
    user: () => ({ ...ids }),
  };
  const engine = createSurveys({
    api,
    config: { surveys, ...config },
    writeKey: WRITE_KEY,
    options,
    store,
    now: () => clock.now,
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    path: () => path,
    whenVisible: (fn) => fn(),
    language: 'en-US',
    render(survey, locale, events) {
      if (survey.placement === 'inline' && survey.inline_selector !== '#present') return null;
      const widget = { survey, locale, events, open: true };
      widgets.push(widget);
      const closed = events.closed;
      events.closed = (reason) => { widget.open = false; closed(reason); };
      return { close: events.closed };
    },
    newId: () => 'resp-' + widgets.length,
    log: () => {},
    warn: (...args) => warnings.push(args),
  });
  const call = (/** @type {any} */ type, /** @type {any} */ fields) =>
    engine._handle([type, fields, { path }, clock.now, ids.anonymousId, ids.userId, ids.groupId]);
  return {
    clock, store, sent, widgets, warnings, ids,
    go: (/** @type {string} */ to) => { path = to; },
    page: () => call('page', { properties: { path } }),
    track: (/** @type {string} */ event, properties = {}) => api.track(event, properties),
    feature: (/** @type {string} */ name) => call('track', { event: 'Feature Used', properties: { feature: name } }),
    identify: (/** @type {any} */ traits, userId = ids.userId) => { ids.userId = userId; call('identify', { traits }); },
    group: (/** @type {string} */ groupId, /** @type {any} */ traits) => { ids.groupId = groupId; call('group', { groupId, traits }); },
    survey: (/** @type {string} */ id) => engine._handle(['survey', id]),
    state: () => JSON.parse(store._get(`cxloop:surveys:${WRITE_KEY}:${ids.userId || ids.anonymousId}`) || 'null'),
    open: () => widgets.filter((w) => w.open),
    events: (/** @type {string} */ name) => sent.filter((s) => s.event === name).map((s) => s.properties),
  };
}

describe('surveys engine', () => {
  test('a page-view survey appears on the third page view, and its state is stored per user', async () => {
    const h = harness([NPS]);
    h.page();
    h.page();
    await h.clock.advance(10);
    assert.equal(h.widgets.length, 0);
    h.page();
    await h.clock.advance(0);
    assert.equal(h.widgets.length, 1);
    assert.equal(h.widgets[0].survey.id, 'srv_nps');
    assert.deepEqual(h.events('Survey Shown'), [{ survey_id: 'srv_nps', kind: 'nps', placement: 'popover' }]);
    const state = h.state();
    assert.deepEqual(state.shown, { srv_nps: h.clock.now });
    assert.equal(state.lastShown, h.clock.now);
    assert.deepEqual([state.pageViews, state.sessions], [3, 1]);
    assert.deepEqual(Object.keys(state).sort(), ['answered', 'lastSeen', 'lastShown', 'pageViews', 'sessions', 'shown', 'snoozed']);
  });

  test('an event survey waits for its delay; feature() names trigger too; the properties carry the feature', async () => {
    const h = harness([CSAT, { ...CSAT, id: 'srv_feature', trigger: { event: 'reports' }, feature: undefined }]);
    h.track('Report Viewed');
    h.page();
    await h.clock.advance(5000);
    assert.equal(h.widgets.length, 0);
    h.track('Report Exported', { format: 'csv' });
    await h.clock.advance(1499);
    assert.equal(h.widgets.length, 0, 'before delay_ms');
    await h.clock.advance(1);
    assert.deepEqual(h.open().map((w) => w.survey.id), ['srv_csat']);
    assert.deepEqual(h.events('Survey Shown'), [{ survey_id: 'srv_csat', kind: 'csat', feature: 'exports', placement: 'modal' }]);

    const other = harness([{ ...CSAT, id: 'srv_feature', trigger: { event: 'reports' }, feature: undefined }]);
    other.feature('reports');
    await other.clock.advance(0);
    assert.deepEqual(other.events('Survey Shown'), [{ survey_id: 'srv_feature', kind: 'csat', placement: 'modal' }]);
  });

  test('score, then comment: a partial and a complete response with the same response_id, once each', async () => {
    const h = harness([CSAT]);
    h.track('Report Exported');
    await h.clock.advance(1500);
    const [widget] = h.widgets;
    widget.events.score(2);
    widget.events.complete('导出太慢了 <b>slow</b>');
    widget.events.closed('done');
    widget.events.complete('again');
    const responses = h.events('Survey Responded');
    assert.deepEqual(responses, [
      { survey_id: 'srv_csat', kind: 'csat', feature: 'exports', response_id: 'resp-1', score: 2, partial: true },
      { survey_id: 'srv_csat', kind: 'csat', feature: 'exports', response_id: 'resp-1', score: 2, partial: false, comment: '导出太慢了 <b>slow</b>' },
    ]);
    assert.deepEqual(h.events('Survey Dismissed'), []);
    assert.deepEqual(h.state().answered, { srv_csat: h.clock.now });
  });

  test('closed after a score without a comment: the complete response has no comment', async () => {
    const h = harness([CSAT]);
    h.survey('srv_csat');
    const [widget] = h.widgets;
    widget.events.score(5);
    widget.events.closed('escape');
    assert.deepEqual(h.events('Survey Responded').map((r) => [r.partial, 'comment' in r, r.response_id]), [[true, false, 'resp-1'], [false, false, 'resp-1']]);
    assert.deepEqual(h.events('Survey Dismissed'), [], 'answered, so not dismissed');
  });

  for (const reason of /** @type {const} */ (['close', 'escape', 'snooze'])) {
    test(`dismissed (${reason}): the event, then the cooldown holds`, async () => {
      const h = harness([NPS], { config: { cooldown_days: 14, snooze_days: 3 } });
      for (let i = 0; i < 3; i++) h.page();
      await h.clock.advance(0);
      h.widgets[0].events.closed(reason);
      assert.deepEqual(h.events('Survey Dismissed'), [{ survey_id: 'srv_nps', kind: 'nps', reason }]);
      const shownAt = h.clock.now;
      assert.deepEqual(h.state().snoozed, reason === 'snooze' ? { srv_nps: shownAt + 3 * DAY_MS } : {});
      if (reason === 'snooze') {
        // "Ask me later": back after snooze_days, not after the 14-day global cooldown.
        await h.clock.advance(3 * DAY_MS - 1);
        h.page();
        await h.clock.advance(0);
        assert.equal(h.widgets.length, 1, 'still snoozed');
        await h.clock.advance(1);
        h.page();
        await h.clock.advance(0);
        assert.equal(h.widgets.length, 2, 'asked again once the snooze ends');
        return;
      }
      await h.clock.advance(13 * DAY_MS);
      h.page();
      await h.clock.advance(0);
      assert.equal(h.widgets.length, 1, 'within the cooldown');
      await h.clock.advance(DAY_MS);
      h.page();
      await h.clock.advance(0);
      assert.equal(h.widgets.length, 2, 'until_answered: back after the cooldown');
    });
  }

  test('snooze_days longer than the cooldown keeps the survey away until the snooze ends', async () => {
    const h = harness([NPS], { config: { cooldown_days: 1, snooze_days: 5 } });
    for (let i = 0; i < 3; i++) h.page();
    await h.clock.advance(0);
    h.widgets[0].events.closed('snooze');
    await h.clock.advance(4 * DAY_MS);
    h.page();
    await h.clock.advance(0);
    assert.equal(h.widgets.length, 1);
    await h.clock.advance(DAY_MS);
    h.page();
    await h.clock.advance(0);
    assert.equal(h.widgets.length, 2);
  });

  test('one survey on screen at a time, and the global cooldown stops the next', async () => {
    const h = harness([{ ...NPS, trigger: {} }, { ...NPS, id: 'srv_second', trigger: {} }]);
    h.page();
    await h.clock.advance(0);
    assert.deepEqual(h.widgets.map((w) => w.survey.id), ['srv_nps']);
    h.widgets[0].events.closed('close');
    h.page();
    await h.clock.advance(0);
    assert.equal(h.widgets.length, 1, 'cooldown');
    assert.equal(h.events('Survey Shown').length, 1);
  });

  test('cxloop.survey(id) ignores triggers, sampling and throttling, is recorded as shown, and waits for none on screen', async () => {
    const h = harness([{ ...NPS, sample_percent: 0 }, CSAT]);
    h.survey('srv_nps');
    assert.deepEqual(h.open().map((w) => w.survey.id), ['srv_nps']);
    h.survey('srv_csat');
    assert.equal(h.widgets.length, 1, 'one at a time');
    h.widgets[0].events.closed('close');
    h.survey('srv_csat');
    assert.deepEqual(h.open().map((w) => w.survey.id), ['srv_csat'], 'shown within the cooldown');
    assert.deepEqual(Object.keys(h.state().shown).sort(), ['srv_csat', 'srv_nps']);
    h.survey('srv_missing');
    assert.match(String(h.warnings[0]), /srv_missing.*no such active survey/);
  });

  test('sampling is per user: the same users see it on every run', async () => {
    const seen = async (/** @type {string} */ userId) => {
      const h = harness([{ ...NPS, trigger: {}, sample_percent: 40 }], { user: { anonymousId: 'a', userId, groupId: null } });
      h.page();
      await h.clock.advance(0);
      return h.widgets.length;
    };
    const users = Array.from({ length: 200 }, (_, i) => 'u' + i);
    const first = await Promise.all(users.map(seen));
    assert.deepEqual(await Promise.all(users.map(seen)), first);
    const share = first.filter(Boolean).length / users.length;
    assert.ok(share > 0.25 && share < 0.55, `${share}`);
  });

  test('filters use the traits of the current user and account only', async () => {
    const survey = { ...NPS, trigger: {}, frequency: { mode: 'recurring', every_days: 0 }, filters: {
      user: [{ trait: 'role', op: 'eq', value: 'admin' }],
      account: [{ trait: 'plan', op: 'in', value: ['pro', 'enterprise'] }, { trait: 'seats', op: 'gte', value: 10 }],
    } };
    const h = harness([survey], { config: { cooldown_days: 0 } });
    h.identify({ role: 'admin' });
    h.group('acct-1', { plan: 'pro', seats: 5 });
    h.page();
    await h.clock.advance(0);
    assert.equal(h.widgets.length, 0, 'seats < 10');
    h.group('acct-1', { seats: 12 });
    h.page();
    await h.clock.advance(0);
    assert.equal(h.widgets.length, 1, 'traits of one account add up');
    h.widgets[0].events.closed('close');
    h.group('acct-2', { seats: 50 });
    h.page();
    await h.clock.advance(0);
    assert.equal(h.widgets.length, 1, 'a new account: the old account\'s plan is not its plan');
    h.identify({ plan: 'x' }, 'user-2');
    h.group('acct-2', { plan: 'enterprise' });
    h.page();
    await h.clock.advance(0);
    assert.equal(h.widgets.length, 1, 'a new user: the old user\'s role is not its role');
    h.identify({ role: 'admin' });
    h.page();
    await h.clock.advance(0);
    assert.equal(h.widgets.length, 2);
  });

  test('min_sessions counts sessions of 30 minutes\' inactivity, kept across reloads', async () => {
    const survey = { ...NPS, trigger: { min_sessions: 2 } };
    const h = harness([survey]);
    h.page();
    await h.clock.advance(29 * 60000);
    h.page();
    await h.clock.advance(0);
    assert.equal(h.widgets.length, 0);
    await h.clock.advance(31 * 60000);
    h.page();
    await h.clock.advance(0);
    assert.equal(h.widgets.length, 1);
    assert.equal(h.state().sessions, 2);
  });

  test('a url trigger is checked again when the delay ends', async () => {
    const h = harness([{ ...NPS, trigger: { url: '/app/reports*', delay_ms: 2000 } }]);
    h.go('/app/reports/7');
    h.page();
    h.go('/app/settings');
    await h.clock.advance(2000);
    assert.equal(h.widgets.length, 0);
    h.go('/app/reports');
    h.page();
    await h.clock.advance(2000);
    assert.equal(h.widgets.length, 1);
  });

  test('an inline survey without its element is neither shown nor recorded', async () => {
    const h = harness([{ ...NPS, trigger: {}, placement: 'inline', inline_selector: '#absent' }]);
    h.page();
    await h.clock.advance(0);
    assert.equal(h.widgets.length, 0);
    assert.deepEqual(h.events('Survey Shown'), []);
    assert.deepEqual(h.state().shown, {});
    assert.match(String(h.warnings[0]), /inline_selector/);
  });

  test('the locale comes from the option, else the browser; unknown kinds and empty questions are ignored', async () => {
    const h = harness([
      { ...NPS, id: 'srv_empty', question: { en: '' }, trigger: {} },
      { ...NPS, trigger: {} },
      { ...NPS, id: 'srv_bad', kind: 'stars', trigger: {} },
    ], { options: { locale: 'zh-HK' } });
    h.page();
    await h.clock.advance(0);
    assert.deepEqual(h.widgets.map((w) => [w.survey.id, w.locale]), [['srv_nps', 'zh-TW']]);
    h.widgets[0].events.closed('close');
    h.survey('srv_bad');
    h.survey('srv_empty');
    assert.equal(h.widgets.length, 1);
    assert.equal(h.warnings.length, 2);
  });
});
