// Targeting and throttling of surveys (docs/surveys.md), and the locale rules: pure functions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { STRINGS, pickText, resolveLocale } from '../../src/surveys/i18n.js';
import {
  DAY_MS, SESSION_GAP_MS, countActivity, emptyState, filterHolds, fnv1a32, globMatch, ineligible, sampled, segment, triggered,
} from '../../src/surveys/targeting.js';

/** FNV-1a written another way (BigInt arithmetic over Node's UTF-8 encoder), to check against. */
const referenceFnv = (/** @type {string} */ text) => {
  let hash = 2166136261n;
  for (const byte of Buffer.from(text, 'utf8')) hash = ((hash ^ BigInt(byte)) * 16777619n) % 2n ** 32n;
  return Number(hash);
};

describe('fnv1a32', () => {
  test('published test vectors', () => {
    assert.equal(fnv1a32(''), 0x811c9dc5);
    assert.equal(fnv1a32('a'), 0xe40c292c);
    assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  });
  test('hashes the UTF-8 bytes (Chinese, accents, astral characters)', () => {
    for (const text of ['srv_8f3k2m1q:user-42', '报表:用户', 'é', '😀 emoji', 'srv:' + 'x'.repeat(300), 'a\u0000b']) {
      assert.equal(fnv1a32(text), referenceFnv(text), text);
    }
  });
});

describe('sampling', () => {
  test('is deterministic per survey and user', () => {
    for (let i = 0; i < 50; i++) {
      const user = 'user-' + i;
      assert.equal(sampled('srv_a', user, 50), sampled('srv_a', user, 50));
      assert.equal(sampled('srv_a', user, 50), fnv1a32('srv_a:' + user) % 100 < 50);
    }
  });
  test('0 shows nobody, 100 (and the default) everybody', () => {
    for (let i = 0; i < 200; i++) {
      assert.equal(sampled('srv_a', 'u' + i, 0), false);
      assert.equal(sampled('srv_a', 'u' + i, 100), true);
      assert.equal(sampled('srv_a', 'u' + i, undefined), true);
    }
  });
  test('takes about sample_percent of users, nested as the percentage grows, independently per survey', () => {
    const users = Array.from({ length: 20000 }, (_, i) => `${i.toString(36)}-${(i * 7919).toString(16)}@example.com`);
    for (const percent of [1, 10, 30, 50, 90]) {
      const share = users.filter((u) => sampled('srv_nps', u, percent)).length / users.length;
      assert.ok(Math.abs(share - percent / 100) < 0.015, `${percent}%: got ${(share * 100).toFixed(2)}%`);
    }
    for (const u of users.slice(0, 2000)) if (sampled('srv_nps', u, 30)) assert.ok(sampled('srv_nps', u, 50), 'a user in 30% is in 50%');
    const a = users.filter((u) => sampled('srv_a', u, 50));
    const both = a.filter((u) => sampled('srv_b', u, 50)).length / a.length;
    assert.ok(Math.abs(both - 0.5) < 0.03, `surveys are sampled independently (${both})`);
  });
});

describe('globMatch', () => {
  const table = /** @type {const} */ ([
    ['/app/reports*', '/app/reports', true],
    ['/app/reports*', '/app/reports/42/edit', true],
    ['/app/reports*', '/app/report', false],
    ['/app/reports*', '/x/app/reports', false],
    ['/app/reports', '/app/reports', true],
    ['/app/reports', '/app/reports/', false],
    ['*', '/', true],
    ['*', '', true],
    ['*/settings', '/acme/settings', true],
    ['*/settings', '/acme/settings/team', false],
    ['/app/*/export', '/app/r/42/export', true],
    ['/app/*/export', '/app/export', false],
    ['/a*b*c', '/abc', true],
    ['/a*b*c', '/aXbYbZc', true],
    ['/a*b*c', '/acb', false],
    ['/ab*ba', '/aba', false],
    ['/a.b?c(d)', '/a.b?c(d)', true],
    ['/a.b', '/aXb', false],
    ['**', '/anything', true],
    ['/报表*', '/报表/月度', true],
  ]);
  for (const [glob, path, expected] of table) {
    test(`${JSON.stringify(glob)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(path)}`, () => {
      assert.equal(globMatch(glob, path), expected);
    });
  }
});

describe('filters', () => {
  const traits = { role: 'admin', plan: 'pro', seats: 25, name: 'Acme Corp', zero: 0, off: false, seatsText: '25' };
  const table = /** @type {const} */ ([
    [{ trait: 'role', op: 'eq', value: 'admin' }, true],
    [{ trait: 'role', op: 'eq', value: 'Admin' }, false],
    [{ trait: 'seats', op: 'eq', value: '25' }, false],
    [{ trait: 'role', op: 'neq', value: 'viewer' }, true],
    [{ trait: 'role', op: 'neq', value: 'admin' }, false],
    [{ trait: 'plan', op: 'in', value: ['pro', 'enterprise'] }, true],
    [{ trait: 'plan', op: 'in', value: ['free'] }, false],
    [{ trait: 'plan', op: 'in', value: 'pro' }, false],
    [{ trait: 'plan', op: 'nin', value: ['free'] }, true],
    [{ trait: 'plan', op: 'nin', value: ['pro'] }, false],
    [{ trait: 'seats', op: 'gt', value: 24 }, true],
    [{ trait: 'seats', op: 'gt', value: 25 }, false],
    [{ trait: 'seats', op: 'gte', value: 25 }, true],
    [{ trait: 'seats', op: 'lt', value: 25 }, false],
    [{ trait: 'seats', op: 'lte', value: 25 }, true],
    [{ trait: 'seatsText', op: 'gte', value: 10 }, false],
    [{ trait: 'zero', op: 'lt', value: 1 }, true],
    [{ trait: 'off', op: 'eq', value: false }, true],
    [{ trait: 'off', op: 'exists' }, true],
    [{ trait: 'role', op: 'not_exists' }, false],
    [{ trait: 'name', op: 'contains', value: 'Acme' }, true],
    [{ trait: 'name', op: 'contains', value: 'acme' }, false],
    [{ trait: 'seats', op: 'contains', value: '2' }, false],
    [{ trait: 'role', op: 'matches', value: 'admin' }, false],
    // An absent trait fails every op except neq, nin and not_exists.
    [{ trait: 'missing', op: 'eq', value: 'x' }, false],
    [{ trait: 'missing', op: 'neq', value: 'x' }, true],
    [{ trait: 'missing', op: 'in', value: ['x'] }, false],
    [{ trait: 'missing', op: 'nin', value: ['x'] }, true],
    [{ trait: 'missing', op: 'gt', value: 0 }, false],
    [{ trait: 'missing', op: 'lte', value: 0 }, false],
    [{ trait: 'missing', op: 'exists' }, false],
    [{ trait: 'missing', op: 'not_exists' }, true],
    [{ trait: 'missing', op: 'contains', value: '' }, false],
  ]);
  for (const [filter, expected] of table) {
    test(`${filter.trait} ${filter.op} ${JSON.stringify(filter.value)} → ${expected}`, () => {
      assert.equal(filterHolds(filter, traits), expected);
    });
  }
  test('no traits known at all: the absent-trait rule', () => {
    assert.equal(filterHolds({ trait: 'role', op: 'eq', value: 'admin' }, null), false);
    assert.equal(filterHolds({ trait: 'role', op: 'not_exists' }, undefined), true);
  });
});

test('score segments', () => {
  const table = /** @type {const} */ ([
    ['nps', [0, 6], 'detractor'], ['nps', [7, 8], 'passive'], ['nps', [9, 10], 'promoter'],
    ['csat', [1, 2], 'detractor'], ['csat', [3, 3], 'passive'], ['csat', [4, 5], 'promoter'],
    ['ces', [5, 7], 'detractor'], ['ces', [4, 4], 'passive'], ['ces', [1, 3], 'promoter'],
    ['thumbs', [0, 0], 'detractor'], ['thumbs', [1, 1], 'promoter'],
    ['emoji', [1, 2], 'detractor'], ['emoji', [3, 3], 'passive'], ['emoji', [4, 5], 'promoter'],
  ]);
  for (const [kind, [from, to], expected] of table) {
    for (let score = from; score <= to; score++) assert.equal(segment(kind, score), expected, `${kind} ${score}`);
  }
});

describe('triggers', () => {
  const state = (/** @type {Partial<ReturnType<typeof emptyState>>} */ s = {}) => ({ ...emptyState(), ...s });
  test('an event trigger fires on that track event or feature, not on page views or other events', () => {
    const survey = { id: 's', kind: /** @type {const} */ ('csat'), question: { en: 'q' }, trigger: { event: 'Report Exported' } };
    const at = { path: '/app', state: state() };
    assert.equal(triggered(survey, { ...at, event: 'Report Exported' }), true);
    assert.equal(triggered(survey, { ...at, event: 'Feature Used', feature: 'Report Exported' }), true);
    assert.equal(triggered(survey, { ...at, event: 'Report Viewed' }), false);
    assert.equal(triggered(survey, { ...at, event: null }), false);
  });
  test('a survey without an event is checked on page views only', () => {
    const survey = { id: 's', kind: /** @type {const} */ ('nps'), question: { en: 'q' } };
    assert.equal(triggered(survey, { event: null, path: '/', state: state() }), true);
    assert.equal(triggered(survey, { event: 'Clicked', path: '/', state: state() }), false);
  });
  test('url, page views and sessions', () => {
    const survey = { id: 's', kind: /** @type {const} */ ('nps'), question: { en: 'q' }, trigger: { url: '/app/reports*', min_page_views: 3, min_sessions: 2 } };
    const ok = { event: null, path: '/app/reports/1', state: state({ pageViews: 3, sessions: 2 }) };
    assert.equal(triggered(survey, ok), true);
    assert.equal(triggered(survey, { ...ok, path: '/app/exports' }), false);
    assert.equal(triggered(survey, { ...ok, state: state({ pageViews: 2, sessions: 2 }) }), false);
    assert.equal(triggered(survey, { ...ok, state: state({ pageViews: 9, sessions: 1 }) }), false);
  });
  test('sessions: 30 minutes without activity start a new one', () => {
    const s = emptyState();
    const t0 = Date.UTC(2026, 0, 1);
    countActivity(s, t0, true);
    countActivity(s, t0 + SESSION_GAP_MS, false);
    countActivity(s, t0 + 2 * SESSION_GAP_MS, true);
    assert.deepEqual([s.sessions, s.pageViews], [1, 2]);
    countActivity(s, t0 + 3 * SESSION_GAP_MS + 1, true);
    assert.deepEqual([s.sessions, s.pageViews, s.lastSeen], [2, 3, t0 + 3 * SESSION_GAP_MS + 1]);
  });
});

describe('throttling (fake clock)', () => {
  const t0 = Date.UTC(2026, 2, 1, 9);
  const base = { id: 'srv_t', kind: /** @type {const} */ ('nps'), question: { en: 'q' } };
  const check = (/** @type {any} */ survey, /** @type {Partial<ReturnType<typeof emptyState>>} */ s, /** @type {number} */ now, extra = {}) =>
    ineligible({ ...base, ...survey }, { state: { ...emptyState(), ...s }, now, userKey: 'user-1', ...extra });

  test('without a frequency: until_answered, as the backend defaults it', () => {
    const dismissed = { shown: { srv_t: t0 }, lastShown: t0 };
    assert.equal(check({}, dismissed, t0 + 14 * DAY_MS), '');
    assert.equal(check({}, { ...dismissed, answered: { srv_t: t0 } }, t0 + 14 * DAY_MS), 'frequency');
  });
  test('once: never again after being shown', () => {
    assert.equal(check({}, {}, t0), '');
    assert.equal(check({ frequency: { mode: 'once' } }, { shown: { srv_t: t0 }, lastShown: t0 }, t0 + 400 * DAY_MS), 'frequency');
    assert.equal(check({}, { shown: { other: t0 } }, t0 + 15 * DAY_MS), '', 'another survey being shown does not count');
  });
  test('until_answered: a dismissed survey comes back after the global cooldown, an answered one never', () => {
    const survey = { frequency: { mode: 'until_answered' } };
    const dismissed = { shown: { srv_t: t0 }, lastShown: t0 };
    assert.equal(check(survey, dismissed, t0 + 14 * DAY_MS - 1), 'cooldown');
    assert.equal(check(survey, dismissed, t0 + 14 * DAY_MS), '');
    assert.equal(check(survey, { ...dismissed, answered: { srv_t: t0 } }, t0 + 100 * DAY_MS), 'frequency');
  });
  test('recurring: again after every_days', () => {
    const survey = { frequency: { mode: 'recurring', every_days: 90 } };
    const shown = { shown: { srv_t: t0 }, answered: { srv_t: t0 }, lastShown: t0 };
    assert.equal(check(survey, shown, t0 + 89 * DAY_MS), 'frequency');
    assert.equal(check(survey, shown, t0 + 90 * DAY_MS), '');
  });
  test('the global cooldown after any survey (default 14 days, or the config\'s)', () => {
    const s = { shown: { other: t0 }, lastShown: t0 };
    assert.equal(check({}, s, t0 + 13 * DAY_MS), 'cooldown');
    assert.equal(check({}, s, t0 + 14 * DAY_MS), '');
    assert.equal(check({}, s, t0 + 2 * DAY_MS, { cooldownDays: 1 }), '');
    assert.equal(check({}, s, t0 + 2 * DAY_MS, { cooldownDays: 30 }), 'cooldown');
  });
  test('snoozed until the time stored', () => {
    const s = { snoozed: { srv_t: t0 + 3 * DAY_MS } };
    assert.equal(check({}, s, t0 + 3 * DAY_MS - 1), 'snoozed');
    assert.equal(check({}, s, t0 + 3 * DAY_MS), '');
  });
  test('sampling and filters come first', () => {
    assert.equal(check({ sample_percent: 0 }, {}, t0), 'not sampled');
    const filters = { user: [{ trait: 'role', op: 'eq', value: 'admin' }], account: [{ trait: 'seats', op: 'gte', value: 10 }] };
    assert.equal(check({ filters }, {}, t0, { user: { role: 'viewer' }, account: { seats: 50 } }), 'user filter');
    assert.equal(check({ filters }, {}, t0, { user: { role: 'admin' }, account: { seats: 5 } }), 'account filter');
    assert.equal(check({ filters }, {}, t0, { user: { role: 'admin' }, account: { seats: 10 } }), '');
    assert.equal(check({ filters }, {}, t0, { user: { role: 'admin' } }), 'account filter', 'no account known');
  });
});

describe('locales', () => {
  test('the browser\'s language picks the locale', () => {
    const table = /** @type {const} */ ([
      ['en-US', 'en'], ['fr', 'en'], ['', 'en'], [undefined, 'en'], ['za', 'en'],
      ['zh', 'zh-CN'], ['zh-CN', 'zh-CN'], ['zh-SG', 'zh-CN'], ['zh-Hans', 'zh-CN'], ['zh-Hans-HK', 'zh-CN'], ['zh_CN', 'zh-CN'],
      ['zh-TW', 'zh-TW'], ['zh-HK', 'zh-TW'], ['zh-MO', 'zh-TW'], ['zh-Hant', 'zh-TW'], ['zh-Hant-CN', 'zh-TW'], ['ZH-tw', 'zh-TW'],
    ]);
    for (const [tag, locale] of table) assert.equal(resolveLocale(tag), locale, String(tag));
  });
  test('texts fall back to the same language, then English, then the first given', () => {
    const all = { en: 'E', 'zh-CN': '简', 'zh-TW': '繁' };
    assert.deepEqual(pickText(all, 'zh-TW'), ['繁', 'zh-TW']);
    assert.deepEqual(pickText({ en: 'E', 'zh-CN': '简' }, 'zh-TW'), ['简', 'zh-CN']);
    assert.deepEqual(pickText({ en: 'E', 'zh-TW': '繁' }, 'zh-CN'), ['繁', 'zh-TW']);
    assert.deepEqual(pickText({ en: 'E', 'zh-TW': '繁' }, 'en'), ['E', 'en']);
    assert.deepEqual(pickText({ 'zh-CN': '简' }, 'en'), ['简', 'zh-CN']);
    assert.deepEqual(pickText({ ja: 'J', 'zh-TW': '繁' }, 'en'), ['J', 'ja'], 'the first text given');
    assert.deepEqual(pickText({ en: '', 'zh-CN': '简' }, 'en'), ['简', 'zh-CN'], 'an empty text is no text');
    assert.equal(pickText({}, 'en'), null);
    assert.equal(pickText(null, 'en'), null);
  });
  test('every widget string exists in every locale', () => {
    const keys = Object.keys(STRINGS.en).sort();
    for (const [locale, strings] of Object.entries(STRINGS)) {
      assert.deepEqual(Object.keys(strings).sort(), keys, locale);
      for (const key of keys) {
        const value = /** @type {any} */ (strings)[key];
        const english = /** @type {any} */ (STRINGS.en)[key];
        assert.ok(Array.isArray(value) ? value.length === english.length && value.every(Boolean) : value, `${locale}.${key}`);
        if (locale !== 'en') assert.notDeepEqual(value, english, `${locale}.${key} is translated`);
      }
    }
  });
});
