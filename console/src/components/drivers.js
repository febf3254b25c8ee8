// Health drivers in the reader's language. The API writes them in English (health/score.py
// `drivers()`/`describe()`/`_said()`, health/service.py `_change_drivers`); the console writes
// them again from the same numbers, by the same rule, in the current locale:
// - scoreDrivers(components): the components that pull the score furthest from neutral
//   (weight × (normalised − 50), |normalised − 50| ≥ 10, worst first, top 3), each a sentence
//   from its `detail`. In English the sentences equal the API's exactly (a test holds every
//   demo account to that), so a change to score.py's wording shows up as a failing test.
// - changeDrivers(texts): "recency −1.2 points" (the API's fixed format) with the component
//   named in the current locale; anything that does not parse stays as the API wrote it.
// Imports only i18n.js, so Node can load it (test/unit/drivers.test.mjs).
import { t, addMessages } from '../i18n.js';

addMessages({
  en: {
    'drivers.component.adoption': 'Adoption', 'drivers.component.utilisation': 'Seat utilisation', 'drivers.component.depth': 'Depth of use',
    'drivers.component.trend': 'Usage trend', 'drivers.component.recency': 'Recency', 'drivers.component.feedback': 'Feedback',
    'drivers.down': '▼ {text}', 'drivers.up': '▲ {text}', 'drivers.sep': '; ', 'drivers.listSep': ', ', 'drivers.times': '{x}×',
    'drivers.adoption': '{used} of {total} key features used in the last 30 days',
    'drivers.utilisation': '{users} active users for {seats} licensed seats in 30 days',
    'drivers.utilisation.vsMedian': 'seats in use {times} as often as the median account',
    'drivers.depth': 'active on {days} of the last 28 days; {share}% of monthly users were active this week',
    'drivers.depth.vsMedian': '{times} the median account\'s actions per user-day',
    'drivers.trend.narrowing': 'feature use narrowing: {recent} features in the last 2 weeks, {before} in the 6 weeks before',
    'drivers.trend.up': 'usage up {change}% against its own baseline', 'drivers.trend.down': 'usage down {change}% against its own baseline',
    'drivers.trend.normal': ' (within normal variation)',
    'drivers.recency.none': 'no activity in 90 days', 'drivers.recency': 'last active {days} days ago',
    'drivers.feedback': 'feedback: {promoters} promoters, {detractors} detractors in {responses} responses',
    'drivers.feedback.alerts': ', {alerts} open alert(s)',
    'drivers.said.churn': { one: '{count} comment in the last 90 days says they are switching tools or not renewing (churn intent)', other: '{count} comments in the last 90 days say they are switching tools or not renewing (churn intent)' },
    'drivers.said.competitors': 'competitors named in the last 90 days: {names}',
    'drivers.said.disagreeing': { one: '{negative} of {count} comment negative although the score was passive or better', other: '{negative} of {count} comments negative although the score was passive or better' },
    'drivers.said.negative': { one: '{negative} of {count} comment negative', other: '{negative} of {count} comments negative' },
    'drivers.change': '{component} {points} points',
  },
  'zh-CN': {
    'drivers.component.adoption': '功能采用', 'drivers.component.utilisation': '席位使用率', 'drivers.component.depth': '使用深度',
    'drivers.component.trend': '使用趋势', 'drivers.component.recency': '最近活跃', 'drivers.component.feedback': '用户反馈',
    'drivers.down': '▼ {text}', 'drivers.up': '▲ {text}', 'drivers.sep': '；', 'drivers.listSep': '、', 'drivers.times': '{x} 倍',
    'drivers.adoption': '最近 30 天用了 {total} 个关键功能中的 {used} 个',
    'drivers.utilisation': '最近 30 天 {seats} 个授权席位中有 {users} 个活跃用户',
    'drivers.utilisation.vsMedian': '席位使用频率是中位客户的 {times}',
    'drivers.depth': '最近 28 天中有 {days} 天活跃；本周活跃的用户占月活跃用户的 {share}%',
    'drivers.depth.vsMedian': '每位用户每个活跃日的操作量是中位客户的 {times}',
    'drivers.trend.narrowing': '使用的功能在减少：最近 2 周用了 {recent} 个功能，之前 6 周用了 {before} 个',
    'drivers.trend.up': '使用量比自身基线上升 {change}%', 'drivers.trend.down': '使用量比自身基线下降 {change}%',
    'drivers.trend.normal': '（在正常波动范围内）',
    'drivers.recency.none': '90 天内没有任何活动', 'drivers.recency': '最近一次活跃在 {days} 天前',
    'drivers.feedback': '反馈：{responses} 条回复中有 {promoters} 位推荐者、{detractors} 位贬损者',
    'drivers.feedback.alerts': '，{alerts} 个未处理预警',
    'drivers.said.churn': { one: '最近 90 天有 {count} 条评论表示要换用其他工具或不再续约（流失意向）', other: '最近 90 天有 {count} 条评论表示要换用其他工具或不再续约（流失意向）' },
    'drivers.said.competitors': '最近 90 天提到的竞品：{names}',
    'drivers.said.disagreeing': { one: '{count} 条评论中有 {negative} 条是负面的，尽管评分属于中立或更好', other: '{count} 条评论中有 {negative} 条是负面的，尽管评分属于中立或更好' },
    'drivers.said.negative': { one: '{count} 条评论中有 {negative} 条是负面的', other: '{count} 条评论中有 {negative} 条是负面的' },
    'drivers.change': '{component} {points} 分',
  },
  'zh-TW': {
    'drivers.component.adoption': '功能採用', 'drivers.component.utilisation': '席位使用率', 'drivers.component.depth': '使用深度',
    'drivers.component.trend': '使用趨勢', 'drivers.component.recency': '最近活躍', 'drivers.component.feedback': '使用者回饋',
    'drivers.down': '▼ {text}', 'drivers.up': '▲ {text}', 'drivers.sep': '；', 'drivers.listSep': '、', 'drivers.times': '{x} 倍',
    'drivers.adoption': '最近 30 天用了 {total} 個關鍵功能中的 {used} 個',
    'drivers.utilisation': '最近 30 天 {seats} 個授權席位中有 {users} 位活躍使用者',
    'drivers.utilisation.vsMedian': '席位使用頻率是中位數客戶的 {times}',
    'drivers.depth': '最近 28 天中有 {days} 天活躍；本週活躍的使用者佔月活躍使用者的 {share}%',
    'drivers.depth.vsMedian': '每位使用者每個活躍日的操作量是中位數客戶的 {times}',
    'drivers.trend.narrowing': '使用的功能在減少：最近 2 週用了 {recent} 個功能，之前 6 週用了 {before} 個',
    'drivers.trend.up': '使用量比自身基準上升 {change}%', 'drivers.trend.down': '使用量比自身基準下降 {change}%',
    'drivers.trend.normal': '（在正常波動範圍內）',
    'drivers.recency.none': '90 天內沒有任何活動', 'drivers.recency': '最近一次活躍在 {days} 天前',
    'drivers.feedback': '回饋：{responses} 則回覆中有 {promoters} 位推薦者、{detractors} 位批評者',
    'drivers.feedback.alerts': '，{alerts} 個未處理警示',
    'drivers.said.churn': { one: '最近 90 天有 {count} 則評論表示要改用其他工具或不再續約（流失意向）', other: '最近 90 天有 {count} 則評論表示要改用其他工具或不再續約（流失意向）' },
    'drivers.said.competitors': '最近 90 天提到的競品：{names}',
    'drivers.said.disagreeing': { one: '{count} 則評論中有 {negative} 則是負面的，儘管評分屬於中立或更好', other: '{count} 則評論中有 {negative} 則是負面的，儘管評分屬於中立或更好' },
    'drivers.said.negative': { one: '{count} 則評論中有 {negative} 則是負面的', other: '{count} 則評論中有 {negative} 則是負面的' },
    'drivers.change': '{component} {points} 分',
  },
});

const LIMIT = 3;

/** Python's round(x) to an integer: ties go to the even neighbour (round(12.5) == 12). */
export function pyRound(/** @type {number} */ x) {
  const floor = Math.floor(x);
  const rest = x - floor; // exact for doubles of this size
  if (rest < 0.5) return floor;
  if (rest > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Python's f"{x:.1f}": the decimal nearest the double, an exact tie (only ….25 and ….75 are
 * exact among doubles) to the even digit, where toFixed would go up (1.25 → "1.2", not "1.3"). */
export function pyFixed1(/** @type {number} */ x) {
  const quarters = x * 4;
  if (Number.isInteger(quarters) && quarters % 2 !== 0) return (pyRound(x * 10) / 10).toFixed(1);
  return x.toFixed(1);
}

/** A component's name in the current locale (the raw name for one the console does not know). */
export function componentName(/** @type {string} */ name) {
  const key = `drivers.component.${name}`;
  const text = t(key);
  return text === key ? name : text;
}

const times = (/** @type {number} */ ratio) => t('drivers.times', { x: pyFixed1(ratio) });

/** What the comments said, strongest first (score.py `_said`). */
function said(/** @type {any} */ words) {
  const out = [];
  const churn = words.churn_intent_90d;
  if (churn) out.push(t('drivers.said.churn', { count: churn }));
  if (words.competitors_90d?.length) out.push(t('drivers.said.competitors', { names: words.competitors_90d.join(t('drivers.listSep')) }));
  if (words.disagreeing) out.push(t('drivers.said.disagreeing', { negative: words.disagreeing, count: words.comments }));
  else if (words.negative) out.push(t('drivers.said.negative', { negative: words.negative, count: words.comments }));
  return out;
}

/**
 * One sentence about a component from its detail (score.py `describe`).
 * @param {{ name: string, detail: Record<string, any> }} component
 */
export function describe(component) {
  const d = component.detail || {};
  const sep = t('drivers.sep');
  switch (component.name) {
    case 'adoption':
      return t('drivers.adoption', { used: (d.used || []).length, total: d.key_features });
    case 'utilisation': {
      const text = t('drivers.utilisation', { users: d.active_users_30d, seats: d.seats });
      return 'user_days_vs_median' in d ? text + sep + t('drivers.utilisation.vsMedian', { times: times(d.user_days_vs_median) }) : text;
    }
    case 'depth': {
      const text = t('drivers.depth', { days: d.active_days_28d, share: pyRound(100 * d.wau_mau) });
      return 'actions_vs_median' in d ? text + sep + t('drivers.depth.vsMedian', { times: times(d.actions_vs_median) }) : text;
    }
    case 'trend': {
      if (d.set_by === 'breadth' && d.narrowing) return t('drivers.trend.narrowing', { recent: d.features_recent, before: d.features_before });
      const change = pyRound(100 * (d.adjusted_ratio - 1));
      const text = t(change >= 0 ? 'drivers.trend.up' : 'drivers.trend.down', { change: Math.abs(change) });
      return d.significant ? text : text + t('drivers.trend.normal');
    }
    case 'recency':
      return d.days_since_active === null || d.days_since_active === undefined ? t('drivers.recency.none') : t('drivers.recency', { days: d.days_since_active });
    default: {
      // feedback (score.py describes every other name as feedback too)
      const alerts = d.open_alerts ? t('drivers.feedback.alerts', { alerts: d.open_alerts }) : '';
      const text = t('drivers.feedback', { promoters: d.promoters, detractors: d.detractors, responses: d.responses }) + alerts;
      const words = d.words;
      return words && Object.keys(words).length ? text + said(words).map((s) => sep + s).join('') : text;
    }
  }
}

/**
 * The score's drivers in the current locale: the same components, in the same order, as the
 * API's `drivers` (score.py `drivers()`).
 * @param {{ name: string, normalised: number, weight: number, detail: Record<string, any> }[]} components
 * @returns {string[]}
 */
export function scoreDrivers(components, limit = LIMIT) {
  const ranked = [...(components || [])].sort((a, b) => a.weight * (a.normalised - 50) - b.weight * (b.normalised - 50));
  return ranked
    .filter((c) => Math.abs(c.normalised - 50) >= 10)
    .slice(0, limit)
    .map((c) => t(c.normalised < 50 ? 'drivers.down' : 'drivers.up', { text: describe(c) }));
}

const CHANGE = /^(\w+) ([+−])(\d+(?:\.\d+)?) points$/;

/** A change driver ("recency −1.2 points") parsed, or null when it is not in that format. */
export function parseChange(/** @type {string} */ text) {
  const m = CHANGE.exec(String(text));
  return m ? { component: m[1], sign: m[2], points: m[3] } : null;
}

/**
 * The change drivers in the current locale; a text the console cannot parse stays as it is.
 * @param {string[]} texts
 * @returns {string[]}
 */
export function changeDrivers(texts) {
  return (texts || []).map((text) => {
    const parsed = typeof text === 'string' ? parseChange(text) : null;
    if (!parsed) return typeof text === 'string' ? text : JSON.stringify(text);
    return t('drivers.change', { component: componentName(parsed.component), points: `${parsed.sign}${parsed.points}` });
  });
}
