// Settings → Health: the health score's configuration (key features, weights per component, band
// thresholds, drop threshold, whether comment words count) — GET/PUT /v1/health/config — where the
// weights came from (the audit log), the latest calibration to past churn (GET
// /v1/health/calibration: AUC now vs fitted, the fitted weights beside the ones in use) with
// "Calibrate now" (POST /v1/health/calibrate) and "Apply these weights" (POST
// /v1/health/calibrations/{id}/apply), and the insights configuration (competitors, dictionary
// words, alert switches; topics read-only).
import { h, replace, uid } from '../../dom.js';
import { componentName } from '../../components/drivers.js';
import { t, addMessages, locale } from '../../i18n.js';
import { fmt } from '../../format.js';
import { guarded, field } from '../../components/ui.js';
import { status, lines } from './common.js';

addMessages({
  en: {
    'settings.health.title': 'Health score',
    'settings.health.help': 'How account health is scored (docs/health.md). A change applies from the next refresh (hourly, or “cxloop score”).',
    'settings.health.keyFeatures': 'Key features', 'settings.health.keyFeaturesHint': 'One feature per line. Leave empty to use the 10 features most accounts used in the last 30 days.',
    'settings.health.weights': 'Weights per component', 'settings.health.weightsHint': 'Non-negative; they need not add up to 1 (the score divides by their sum). Sum now: {sum}.',
    'settings.health.bands': 'Bands and alerts', 'settings.health.yellowAt': 'Yellow from score', 'settings.health.greenAt': 'Green from score',
    'settings.health.bandsHint': 'Below “yellow from” is red; 0 ≤ yellow ≤ green ≤ 100.',
    'settings.health.drop': 'Drop threshold (points)', 'settings.health.dropHint': 'A fall of at least this many points in a day sends health.dropped.',
    'settings.health.feedbackText': 'Comment words count in the feedback component (churn intent, competitors)',
    'settings.health.save': 'Save health configuration',
    'settings.health.calibration': 'Calibration',
    'settings.health.calibrated': 'The weights in use were fitted to past churn by a calibration on {date} ({actor}).',
    'settings.health.setBy': 'The weights in use were last set by {actor} on {date}, not by a calibration.',
    'settings.health.defaults': 'The weights in use are the defaults: no one has changed them and no calibration has been applied.',
    'settings.health.unknownOrigin': 'Where the weights came from is in the audit log, which your role cannot read.',
    'settings.health.calNone': 'No calibration has been run yet.',
    'settings.health.calLatest': 'Latest calibration: {date} by {actor}. {churned} churned accounts (scored {days} days before they were marked churned) against {others} other accounts.',
    'settings.health.calAuc': 'How well the score told churners apart in the back-test (ROC AUC; 0.5 is chance, 1 is perfect)',
    'settings.health.calAucNow': 'Weights in use when it ran', 'settings.health.calAucFitted': 'Fitted weights (5-fold)',
    'settings.health.calWeights': 'Weights as shares of their total: fitted vs in use now',
    'settings.health.calComponent': 'Component', 'settings.health.calFitted': 'Fitted', 'settings.health.calInUse': 'In use now',
    'settings.health.calApplied': 'Applied on {date}.', 'settings.health.calNotApplied': 'Not applied.',
    'settings.health.calInUseNow': 'The fitted weights are the ones in use.',
    'settings.health.calNotInUse': 'The weights in use differ from the fitted ones.',
    'settings.health.calLastApplied': 'Last applied calibration: {date} by {actor} (applied {applied}).',
    'settings.health.apply': 'Apply these weights', 'settings.health.applied': 'The fitted weights are saved as the project’s weights.',
    'settings.health.calRun': 'Calibrate now', 'settings.health.calRunTitle': 'Run a calibration',
    'settings.health.calHorizon': 'Days before churn', 'settings.health.calHorizonHint': 'Churned accounts (group trait status: churned) are scored this many days before they were marked churned.',
    'settings.health.calApply': 'Apply the fitted weights straight away',
    'settings.health.calDone': 'Calibration done: {churned} churned against {others} other accounts.',
    'settings.health.calCli': 'The same from the command line:',
    'settings.health.insights': 'Comment analysis',
    'settings.health.insightsHelp': 'Version {version}; {pending} comments waiting for the analysis. A change re-reads every comment.',
    'settings.health.competitors': 'Competitors', 'settings.health.competitorsHint': 'One name per line; a comment naming one caps the feedback component and can open an alert.',
    'settings.health.dictionary': 'Dictionary words', 'settings.health.dictionaryHint': 'One word per line: product and domain words the Chinese word splitter should keep whole.',
    'settings.health.alertChurn': 'Open an alert when a comment says the account is leaving',
    'settings.health.alertCompetitor': 'Open an alert when a comment names a competitor',
    'settings.health.saveInsights': 'Save comment analysis',
    'settings.health.topics': 'Topics', 'settings.health.topic': 'Topic', 'settings.health.terms': 'Terms', 'settings.health.enabled': 'Enabled', 'settings.health.builtin': 'Built in',
    'settings.health.topicsHint': 'Topic overrides are set with PUT /v1/insights/config (docs/insights-text.md).',
  },
  'zh-CN': {
    'settings.health.title': '健康度评分',
    'settings.health.help': '客户健康度的计算方式（docs/health.md）。修改从下一次刷新起生效（每小时，或运行“cxloop score”）。',
    'settings.health.keyFeatures': '关键功能', 'settings.health.keyFeaturesHint': '每行一个功能。留空则使用最近 30 天被最多客户使用的 10 个功能。',
    'settings.health.weights': '各维度权重', 'settings.health.weightsHint': '不能为负；总和不必为 1（评分会除以总和）。当前总和：{sum}。',
    'settings.health.bands': '健康等级与预警', 'settings.health.yellowAt': '“关注”起始分', 'settings.health.greenAt': '“健康”起始分',
    'settings.health.bandsHint': '低于“关注”起始分为“风险”；须满足 0 ≤ 关注 ≤ 健康 ≤ 100。',
    'settings.health.drop': '下降阈值（分）', 'settings.health.dropHint': '一天内下降达到此分数时发送 health.dropped。',
    'settings.health.feedbackText': '反馈维度计入评论中的词语（流失意向、竞品）',
    'settings.health.save': '保存健康度配置',
    'settings.health.calibration': '校准',
    'settings.health.calibrated': '当前权重由 {date} 的一次校准根据历史流失拟合得出（{actor}）。',
    'settings.health.setBy': '当前权重最后由 {actor} 于 {date} 设置，并非来自校准。',
    'settings.health.defaults': '当前使用默认权重：无人修改过，也未应用过校准。',
    'settings.health.unknownOrigin': '权重的来源记录在审计日志中，您的角色无法查看。',
    'settings.health.calNone': '尚未运行过校准。',
    'settings.health.calLatest': '最近一次校准：{date}，由 {actor} 运行。{churned} 个流失客户（按标记流失前 {days} 天评分）对比 {others} 个其他客户。',
    'settings.health.calAuc': '回测中评分区分流失客户的能力（ROC AUC；0.5 相当于随机，1 为完美）',
    'settings.health.calAucNow': '运行时使用的权重', 'settings.health.calAucFitted': '拟合权重（5 折交叉验证）',
    'settings.health.calWeights': '权重占总和的比例：拟合值与当前使用值',
    'settings.health.calComponent': '维度', 'settings.health.calFitted': '拟合', 'settings.health.calInUse': '当前使用',
    'settings.health.calApplied': '已于 {date} 应用。', 'settings.health.calNotApplied': '未应用。',
    'settings.health.calInUseNow': '当前使用的正是拟合权重。',
    'settings.health.calNotInUse': '当前使用的权重与拟合权重不同。',
    'settings.health.calLastApplied': '最近一次应用的校准：{date}，由 {actor} 运行（应用于 {applied}）。',
    'settings.health.apply': '应用这些权重', 'settings.health.applied': '拟合权重已保存为项目权重。',
    'settings.health.calRun': '立即校准', 'settings.health.calRunTitle': '运行校准',
    'settings.health.calHorizon': '流失前天数', 'settings.health.calHorizonHint': '流失客户（分组特征 status: churned）按标记流失前这么多天的数据评分。',
    'settings.health.calApply': '立即应用拟合权重',
    'settings.health.calDone': '校准完成：{churned} 个流失客户对比 {others} 个其他客户。',
    'settings.health.calCli': '也可以在命令行中运行：',
    'settings.health.insights': '评论分析',
    'settings.health.insightsHelp': '版本 {version}；{pending} 条评论等待分析。修改后会重新分析所有评论。',
    'settings.health.competitors': '竞品', 'settings.health.competitorsHint': '每行一个名称；评论提到竞品会限制反馈维度的分数，并可能触发预警。',
    'settings.health.dictionary': '词典', 'settings.health.dictionaryHint': '每行一个词：中文分词时需要保持完整的产品词和行业词。',
    'settings.health.alertChurn': '评论表示客户要流失时触发预警',
    'settings.health.alertCompetitor': '评论提到竞品时触发预警',
    'settings.health.saveInsights': '保存评论分析配置',
    'settings.health.topics': '主题', 'settings.health.topic': '主题', 'settings.health.terms': '关键词', 'settings.health.enabled': '已启用', 'settings.health.builtin': '内置',
    'settings.health.topicsHint': '主题的自定义通过 PUT /v1/insights/config 设置（docs/insights-text.md）。',
  },
  'zh-TW': {
    'settings.health.title': '健康度評分',
    'settings.health.help': '客戶健康度的計算方式（docs/health.md）。變更從下一次重新整理起生效（每小時，或執行「cxloop score」）。',
    'settings.health.keyFeatures': '關鍵功能', 'settings.health.keyFeaturesHint': '每行一個功能。留空則使用最近 30 天被最多客戶使用的 10 個功能。',
    'settings.health.weights': '各維度權重', 'settings.health.weightsHint': '不能為負；總和不必為 1（評分會除以總和）。目前總和：{sum}。',
    'settings.health.bands': '健康等級與警示', 'settings.health.yellowAt': '「關注」起始分', 'settings.health.greenAt': '「健康」起始分',
    'settings.health.bandsHint': '低於「關注」起始分為「風險」；須滿足 0 ≤ 關注 ≤ 健康 ≤ 100。',
    'settings.health.drop': '下降門檻（分）', 'settings.health.dropHint': '一天內下降達到此分數時傳送 health.dropped。',
    'settings.health.feedbackText': '回饋維度計入評論中的詞語（流失意向、競品）',
    'settings.health.save': '儲存健康度設定',
    'settings.health.calibration': '校準',
    'settings.health.calibrated': '目前權重由 {date} 的一次校準根據歷史流失擬合而得（{actor}）。',
    'settings.health.setBy': '目前權重最後由 {actor} 於 {date} 設定，並非來自校準。',
    'settings.health.defaults': '目前使用預設權重：無人變更過，也未套用過校準。',
    'settings.health.unknownOrigin': '權重的來源記錄在稽核日誌中，您的角色無法檢視。',
    'settings.health.calNone': '尚未執行過校準。',
    'settings.health.calLatest': '最近一次校準：{date}，由 {actor} 執行。{churned} 個流失客戶（依標記流失前 {days} 天評分）對比 {others} 個其他客戶。',
    'settings.health.calAuc': '回測中評分區分流失客戶的能力（ROC AUC；0.5 相當於隨機，1 為完美）',
    'settings.health.calAucNow': '執行時使用的權重', 'settings.health.calAucFitted': '擬合權重（5 折交叉驗證）',
    'settings.health.calWeights': '權重佔總和的比例：擬合值與目前使用值',
    'settings.health.calComponent': '維度', 'settings.health.calFitted': '擬合', 'settings.health.calInUse': '目前使用',
    'settings.health.calApplied': '已於 {date} 套用。', 'settings.health.calNotApplied': '未套用。',
    'settings.health.calInUseNow': '目前使用的正是擬合權重。',
    'settings.health.calNotInUse': '目前使用的權重與擬合權重不同。',
    'settings.health.calLastApplied': '最近一次套用的校準：{date}，由 {actor} 執行（套用於 {applied}）。',
    'settings.health.apply': '套用這些權重', 'settings.health.applied': '擬合權重已儲存為專案權重。',
    'settings.health.calRun': '立即校準', 'settings.health.calRunTitle': '執行校準',
    'settings.health.calHorizon': '流失前天數', 'settings.health.calHorizonHint': '流失客戶（群組特徵 status: churned）依標記流失前這麼多天的資料評分。',
    'settings.health.calApply': '立即套用擬合權重',
    'settings.health.calDone': '校準完成：{churned} 個流失客戶對比 {others} 個其他客戶。',
    'settings.health.calCli': '也可以在命令列中執行：',
    'settings.health.insights': '評論分析',
    'settings.health.insightsHelp': '版本 {version}；{pending} 則評論等待分析。變更後會重新分析所有評論。',
    'settings.health.competitors': '競品', 'settings.health.competitorsHint': '每行一個名稱；評論提到競品會限制回饋維度的分數，並可能觸發警示。',
    'settings.health.dictionary': '詞典', 'settings.health.dictionaryHint': '每行一個詞：中文斷詞時需要保持完整的產品詞和產業詞。',
    'settings.health.alertChurn': '評論表示客戶要流失時觸發警示',
    'settings.health.alertCompetitor': '評論提到競品時觸發警示',
    'settings.health.saveInsights': '儲存評論分析設定',
    'settings.health.topics': '主題', 'settings.health.topic': '主題', 'settings.health.terms': '關鍵詞', 'settings.health.enabled': '已啟用', 'settings.health.builtin': '內建',
    'settings.health.topicsHint': '主題的自訂透過 PUT /v1/insights/config 設定（docs/insights-text.md）。',
  },
});

const COMPONENTS = ['adoption', 'utilisation', 'depth', 'trend', 'recency', 'feedback'];

/** The latest audit entry that changed the weights, or null; undefined when the role cannot read the log. */
async function weightsOrigin(/** @type {import('./common.js').TabContext} */ ctx) {
  if (!ctx.can('audit:read')) return undefined;
  const page = await ctx.api.get('/v1/audit', { object_type: 'health_config', action: 'health_config.updated', limit: 200 }, ctx.signal);
  return page.entries.find((/** @type {any} */ e) => (e.details?.changed || []).includes('weights')) || null;
}

/** @param {import('./common.js').TabContext} ctx */
export default async function health(ctx) {
  const [config, origin, calibrations, insights] = await Promise.all([
    ctx.api.get('/v1/health/config', undefined, ctx.signal),
    weightsOrigin(ctx),
    ctx.api.get('/v1/health/calibration', undefined, ctx.signal),
    ctx.can('insights:read') ? ctx.api.get('/v1/insights/config', undefined, ctx.signal) : null,
  ]);
  replace(ctx.root, healthForm(ctx, config), calibration(ctx, origin, calibrations), insights ? insightsForm(ctx, insights) : null);
}

function healthForm(/** @type {import('./common.js').TabContext} */ ctx, /** @type {any} */ config) {
  const readOnly = !ctx.can('config:write');
  const number = (/** @type {string} */ name, /** @type {number} */ value, /** @type {Record<string, any>} */ more = {}) =>
    h('input', { type: 'number', name, value: String(value), step: 'any', inputmode: 'decimal', required: true, disabled: readOnly, ...more });
  const keyFeatures = /** @type {HTMLTextAreaElement} */ (h('textarea', { name: 'key_features', rows: 4, disabled: readOnly }, (config.key_features || []).join('\n')));
  const names = [...COMPONENTS, ...Object.keys(config.weights).filter((k) => !COMPONENTS.includes(k))];
  const weights = Object.fromEntries(names.map((name) => [name, /** @type {HTMLInputElement} */ (number(`weight.${name}`, config.weights[name] ?? 0, { min: '0' }))]));
  const sumId = uid('sum');
  const sum = h('p', { class: 'hint', id: sumId, 'aria-live': 'polite' });
  const showSum = () => {
    const total = Object.values(weights).reduce((acc, input) => acc + (Number(input.value) || 0), 0);
    sum.textContent = t('settings.health.weightsHint', { sum: fmt.number(total, 2) });
  };
  showSum();
  const yellow = /** @type {HTMLInputElement} */ (number('yellow_at', config.yellow_at));
  const green = /** @type {HTMLInputElement} */ (number('green_at', config.green_at));
  const drop = /** @type {HTMLInputElement} */ (number('drop_threshold', config.drop_threshold));
  const feedbackText = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', name: 'feedback_text', checked: config.feedback_text, disabled: readOnly }));
  const result = status();
  const save = guarded(ctx, 'config:write', { class: 'primary' }, t('settings.health.save'));
  if (!readOnly) save.setAttribute('type', 'submit');
  const form = h('form', { class: 'card settings-form', 'aria-labelledby': 'health-title', novalidate: true, onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    if (readOnly) return;
    result.clear();
    const features = lines(keyFeatures.value);
    const body = {
      key_features: features.length ? features : null,
      weights: Object.fromEntries(Object.entries(weights).map(([name, input]) => [name, Number(input.value)])),
      yellow_at: Number(yellow.value),
      green_at: Number(green.value),
      drop_threshold: Number(drop.value),
      feedback_text: feedbackText.checked,
    };
    try {
      await ctx.api.put('/v1/health/config', body);
      result.ok();
      ctx.announce(t('settings.saved'));
    } catch (error) {
      result.fail(error);
    }
  } },
  h('h2', { id: 'health-title' }, t('settings.health.title')),
  h('p', { class: 'hint' }, t('settings.health.help')),
  field(t('settings.health.keyFeatures'), keyFeatures, { hint: t('settings.health.keyFeaturesHint') }),
  h('fieldset', { class: 'weights', 'aria-describedby': sumId, oninput: showSum },
    h('legend', null, t('settings.health.weights')),
    h('div', { class: 'settings-grid' }, names.map((name) => field(componentName(name), weights[name]))),
    sum),
  h('fieldset', null,
    h('legend', null, t('settings.health.bands')),
    h('div', { class: 'settings-grid' },
      field(t('settings.health.yellowAt'), yellow),
      field(t('settings.health.greenAt'), green),
      field(t('settings.health.drop'), drop, { hint: t('settings.health.dropHint') })),
    h('p', { class: 'hint' }, t('settings.health.bandsHint'))),
  h('label', { class: 'check' }, feedbackText, ' ', t('settings.health.feedbackText')),
  result.el,
  h('div', { class: 'row' }, save));
  return form;
}

function calibration(/** @type {import('./common.js').TabContext} */ ctx, /** @type {any} */ origin, /** @type {any} */ state) {
  let text;
  if (origin === undefined) text = t('settings.health.unknownOrigin');
  else if (origin === null) text = t('settings.health.defaults');
  else if (origin.details?.by === 'calibration') text = t('settings.health.calibrated', { date: fmt.dateTime(origin.at), actor: origin.actor_label });
  else text = t('settings.health.setBy', { actor: origin.actor_label, date: fmt.dateTime(origin.at) });
  const latest = state.latest;
  const last = state.last_applied;
  return h('section', { class: 'card', 'aria-labelledby': 'calibration-title' },
    h('h2', { id: 'calibration-title' }, t('settings.health.calibration')),
    h('p', { 'data-calibration': origin === undefined ? 'unknown' : origin === null ? 'defaults' : origin.details?.by === 'calibration' ? 'calibrated' : 'manual' }, text),
    latest ? calibrationRun(ctx, latest, state.weights) : h('p', { 'data-calibration-latest': 'none' }, t('settings.health.calNone')),
    last && (!latest || last.id !== latest.id)
      ? h('p', { 'data-calibration-applied': String(last.id) }, t('settings.health.calLastApplied', { date: fmt.dateTime(last.created_at), actor: last.actor_label, applied: fmt.dateTime(last.applied_at) }), ' ',
        last.in_use ? t('settings.health.calInUseNow') : t('settings.health.calNotInUse'))
      : null,
    calibrateForm(ctx),
    h('p', { class: 'hint' }, t('settings.health.calCli')),
    h('pre', { class: 'command' }, h('code', null, `cxloop score --calibrate --project ${ctx.project.name}\ncxloop score --calibrate --apply --project ${ctx.project.name}`)));
}

/** Shares of the total weight: the score divides by the sum, so shares compare fitted and set weights. */
function shares(/** @type {Record<string, number>} */ weights) {
  const total = Object.values(weights).reduce((sum, w) => sum + (w > 0 ? w : 0), 0);
  return (/** @type {string} */ name) => (total > 0 ? (weights[name] || 0) / total : null);
}

/** One stored run: when, who, counts, AUC now vs fitted, fitted vs in-use weights, applied or not. */
function calibrationRun(/** @type {import('./common.js').TabContext} */ ctx, /** @type {any} */ run, /** @type {Record<string, number>} */ inUse) {
  const fitted = shares(run.weights);
  const now = shares(inUse);
  const names = [...COMPONENTS, ...Object.keys(run.weights).filter((k) => !COMPONENTS.includes(k))];
  const result = status();
  const apply = guarded(ctx, 'config:write', { class: 'primary', 'data-apply': String(run.id), onclick: async () => {
    result.clear();
    apply.setAttribute('aria-busy', 'true');
    try {
      await ctx.api.post(`/v1/health/calibrations/${run.id}/apply`, undefined);
      ctx.announce(t('settings.health.applied'));
      await ctx.refresh();
    } catch (error) {
      apply.removeAttribute('aria-busy');
      result.fail(error);
    }
  } }, t('settings.health.apply'));
  const aucId = uid('auc');
  return h('div', { class: 'calibration-run', 'data-calibration-latest': String(run.id) },
    h('p', null, t('settings.health.calLatest', { date: fmt.dateTime(run.created_at), actor: run.actor_label, churned: fmt.number(run.churned), others: fmt.number(run.others), days: fmt.number(run.horizon_days) })),
    h('p', { id: aucId, class: 'hint' }, t('settings.health.calAuc')),
    h('dl', { class: 'keys', 'aria-describedby': aucId },
      h('dt', null, t('settings.health.calAucNow')), h('dd', { 'data-auc': 'current' }, fmt.number(run.auc_current, 3)),
      h('dt', null, t('settings.health.calAucFitted')), h('dd', { 'data-auc': 'calibrated' }, fmt.number(run.auc_calibrated, 3))),
    h('table', { class: 'grid calibration-weights' },
      h('caption', null, t('settings.health.calWeights')),
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, t('settings.health.calComponent')),
        h('th', { scope: 'col', class: 'num' }, t('settings.health.calFitted')),
        h('th', { scope: 'col', class: 'num' }, t('settings.health.calInUse')))),
      h('tbody', null, names.map((name) => h('tr', { 'data-component': name },
        h('th', { scope: 'row' }, componentName(name)),
        h('td', { class: 'num', 'data-fitted': String(run.weights[name] ?? 0) }, fmt.percent(fitted(name), 1)),
        h('td', { class: 'num' }, fmt.percent(now(name), 1)))))),
    h('p', { 'data-applied': String(run.applied), 'data-in-use': String(run.in_use) },
      run.applied ? t('settings.health.calApplied', { date: fmt.dateTime(run.applied_at) }) : t('settings.health.calNotApplied'), ' ',
      run.in_use ? t('settings.health.calInUseNow') : t('settings.health.calNotInUse')),
    result.el,
    run.in_use ? null : h('div', { class: 'row' }, apply));
}

/** "Calibrate now": days before churn, apply or not; the API's refusal (too few churned) shown as it says it. */
function calibrateForm(/** @type {import('./common.js').TabContext} */ ctx) {
  const allowed = ctx.can('config:write');
  const horizon = /** @type {HTMLInputElement} */ (h('input', { type: 'number', name: 'horizon_days', value: '14', min: '0', max: '365', step: '1', inputmode: 'numeric', required: true, disabled: !allowed }));
  const applyNow = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', name: 'apply', disabled: !allowed }));
  const result = status();
  const run = guarded(ctx, 'config:write', { class: 'primary' }, t('settings.health.calRun'));
  if (allowed) run.setAttribute('type', 'submit');
  return h('form', { class: 'settings-form calibrate', 'aria-labelledby': 'calibrate-title', novalidate: true, onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    if (!allowed) return;
    result.clear();
    run.setAttribute('aria-busy', 'true');
    try {
      const answer = await ctx.api.post('/v1/health/calibrate', { horizon_days: Number(horizon.value), apply: applyNow.checked });
      ctx.announce(t('settings.health.calDone', { churned: fmt.number(answer.churned), others: fmt.number(answer.others) }));
      await ctx.refresh();
    } catch (error) {
      run.removeAttribute('aria-busy');
      result.fail(error);
    }
  } },
  h('h3', { id: 'calibrate-title' }, t('settings.health.calRunTitle')),
  h('div', { class: 'settings-grid' }, field(t('settings.health.calHorizon'), horizon, { hint: t('settings.health.calHorizonHint') })),
  h('label', { class: 'check' }, applyNow, ' ', t('settings.health.calApply')),
  result.el,
  h('div', { class: 'row' }, run));
}

function insightsForm(/** @type {import('./common.js').TabContext} */ ctx, /** @type {any} */ answer) {
  const readOnly = !ctx.can('config:write');
  const config = answer.config;
  const competitors = /** @type {HTMLTextAreaElement} */ (h('textarea', { name: 'competitors', rows: 4, disabled: readOnly }, config.competitors.join('\n')));
  const dictionary = /** @type {HTMLTextAreaElement} */ (h('textarea', { name: 'user_dictionary', rows: 4, disabled: readOnly }, config.user_dictionary.join('\n')));
  const churn = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', name: 'alert_on_churn_intent', checked: config.alert_on_churn_intent, disabled: readOnly }));
  const competitor = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', name: 'alert_on_competitor', checked: config.alert_on_competitor, disabled: readOnly }));
  const result = status();
  const save = guarded(ctx, 'config:write', { class: 'primary' }, t('settings.health.saveInsights'));
  if (!readOnly) save.setAttribute('type', 'submit');
  const lang = locale();
  return h('form', { class: 'card settings-form', 'aria-labelledby': 'insights-title', novalidate: true, onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    if (readOnly) return;
    result.clear();
    try {
      await ctx.api.put('/v1/insights/config', { ...config, competitors: lines(competitors.value), user_dictionary: lines(dictionary.value), alert_on_churn_intent: churn.checked, alert_on_competitor: competitor.checked });
      result.ok();
      ctx.announce(t('settings.saved'));
    } catch (error) {
      result.fail(error);
    }
  } },
  h('h2', { id: 'insights-title' }, t('settings.health.insights')),
  h('p', { class: 'hint' }, t('settings.health.insightsHelp', { version: answer.version, pending: fmt.number(answer.pending_comments) })),
  h('div', { class: 'settings-grid wide' },
    field(t('settings.health.competitors'), competitors, { hint: t('settings.health.competitorsHint') }),
    field(t('settings.health.dictionary'), dictionary, { hint: t('settings.health.dictionaryHint') })),
  h('label', { class: 'check' }, churn, ' ', t('settings.health.alertChurn')),
  h('label', { class: 'check' }, competitor, ' ', t('settings.health.alertCompetitor')),
  result.el,
  h('div', { class: 'row' }, save),
  h('h3', null, t('settings.health.topics')),
  h('table', { class: 'data topics' },
    h('caption', { class: 'sr-only' }, t('settings.health.topics')),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, t('settings.health.topic')), h('th', { scope: 'col' }, t('settings.health.enabled')), h('th', { scope: 'col' }, t('settings.health.builtin')), h('th', { scope: 'col', class: 'num' }, t('settings.health.terms')))),
    h('tbody', null, answer.topics.map((/** @type {any} */ topic) => h('tr', null,
      h('th', { scope: 'row' }, topic.names[lang] || topic.names.en || topic.id, ' ', h('code', { class: 'muted' }, topic.id)),
      h('td', null, topic.enabled ? t('settings.yes') : t('settings.no')),
      h('td', null, topic.builtin ? t('settings.yes') : t('settings.no')),
      h('td', { class: 'num' }, fmt.number(topic.terms.length)))))),
  h('p', { class: 'hint' }, t('settings.health.topicsHint')));
}
