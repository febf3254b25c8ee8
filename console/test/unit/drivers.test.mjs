// The console's drivers (src/components/drivers.js) round as Python does and read in Chinese.
// The expected English below is what cxloop.health.score.drivers(..., limit=5) printed for these
// components (ties: wau_mau 0.125 → 12%, adjusted_ratio 0.875 → down 12%, 1.25 → 1.2×, 0.75 → 0.8×).
// test/browser/drivers.test.mjs holds the mirror to the API on every account of a live stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';

globalThis.document ??= /** @type {any} */ ({ documentElement: {} });
const { setLocale } = await import('../../src/i18n.js');
const { scoreDrivers, changeDrivers, pyRound, pyFixed1 } = await import('../../src/components/drivers.js');

const components = [
  { name: 'depth', normalised: 20.0, weight: 0.2, detail: { active_days_28d: 3, wau_mau: 0.125, actions_vs_median: 1.25 } },
  { name: 'trend', normalised: 35.0, weight: 0.2, detail: { ratio: 0.875, adjusted_ratio: 0.875, z: -1.0, significant: false } },
  { name: 'feedback', normalised: 5.0, weight: 0.15, detail: { responses: 3, promoters: 0, detractors: 2, interval: 0.3, open_alerts: 1, words: { comments: 1, negative: 1, disagreeing: 0, promoters: 0, detractors: 2, churn_intent_90d: 1, competitor_comments_90d: 2, competitors_90d: ['Acme', 'Globex'] } } },
  { name: 'utilisation', normalised: 90.0, weight: 0.2, detail: { active_users_30d: 1000, seats: 1200, user_days_vs_median: 0.75 } },
  { name: 'recency', normalised: 0.0, weight: 0.1, detail: { days_since_active: null } },
];

test('rounding follows Python: round() half to even, :.1f exact ties to even', () => {
  assert.deepEqual([12.5, 13.5, -12.5, -0.5, 0.49, 2.51].map(pyRound), [12, 14, -12, 0, 0, 3]);
  assert.deepEqual([0.25, 0.75, 1.25, 0.15, 2.35, 0.157, 3].map(pyFixed1), ['0.2', '0.8', '1.2', '0.1', '2.4', '0.2', '3.0']);
});

test('English drivers are the API sentences, worst first', () => {
  setLocale('en');
  assert.deepEqual(scoreDrivers(components, 5), [
    '▼ feedback: 0 promoters, 2 detractors in 3 responses, 1 open alert(s); 1 comment in the last 90 days says they are switching tools or not renewing (churn intent); competitors named in the last 90 days: Acme, Globex; 1 of 1 comment negative',
    '▼ active on 3 of the last 28 days; 12% of monthly users were active this week; 1.2× the median account\'s actions per user-day',
    '▼ no activity in 90 days',
    '▼ usage down 12% against its own baseline (within normal variation)',
    '▲ 1000 active users for 1200 licensed seats in 30 days; seats in use 0.8× as often as the median account',
  ]);
  assert.equal(scoreDrivers(components).length, 3);
});

test('Chinese drivers and change drivers; what does not parse stays as the API wrote it', () => {
  setLocale('zh-CN');
  try {
    const zh = scoreDrivers(components, 5);
    assert.equal(zh[0], '▼ 反馈：3 条回复中有 0 位推荐者、2 位贬损者，1 个未处理预警；最近 90 天有 1 条评论表示要换用其他工具或不再续约（流失意向）；最近 90 天提到的竞品：Acme、Globex；1 条评论中有 1 条是负面的');
    assert.equal(zh[3], '▼ 使用量比自身基线下降 12%（在正常波动范围内）');
    assert.deepEqual(changeDrivers(['recency −1.2 points', 'trend +10.0 points', 'something else']), ['最近活跃 −1.2 分', '使用趋势 +10.0 分', 'something else']);
    setLocale('zh-TW');
    assert.deepEqual(changeDrivers(['feedback −3.5 points']), ['使用者回饋 −3.5 分']);
    assert.equal(scoreDrivers(components, 5)[2], '▼ 90 天內沒有任何活動');
  } finally {
    setLocale('en');
  }
  assert.deepEqual(changeDrivers(['recency −1.2 points']), ['Recency −1.2 points']);
});
