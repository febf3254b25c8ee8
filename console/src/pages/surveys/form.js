// The survey definition form: every field of SurveyInput (backend/cxloop/surveys/model.py), read
// back into a definition, and the API's 400 answers shown next to the fields they name.
import { h, replace, uid } from '../../dom.js';
import { t } from '../../i18n.js';

export const LANGS = /** @type {const} */ (['en', 'zh-CN', 'zh-TW']);
export const KINDS = ['nps', 'csat', 'ces', 'thumbs', 'emoji'];
const SEGMENTS = ['default', 'detractor', 'passive', 'promoter'];
const OPS = ['eq', 'neq', 'in', 'nin', 'gt', 'gte', 'lt', 'lte', 'exists', 'not_exists', 'contains'];
const MODES = ['once', 'until_answered', 'recurring'];
const PLACEMENTS = ['popover', 'modal', 'inline'];

/** A blank definition (the API's defaults). */
export const blank = () => ({
  name: '', kind: 'nps', question: { en: '' }, follow_up: null, feature: null,
  trigger: { event: null, url: null, min_page_views: 0, min_sessions: 0, delay_ms: 0 },
  filters: { user: [], account: [] }, sample_percent: 100, frequency: { mode: 'until_answered', every_days: null },
  account_cap: null, placement: 'popover', inline_selector: null,
});

/**
 * A control with its label, hint and an error slot, registered under the definition path the API
 * names in its messages (e.g. `trigger.delay_ms`, `question.zh-CN`).
 * @param {Map<string, { control: HTMLElement, error: HTMLElement }>} registry
 */
function fieldFor(registry, /** @type {string} */ path, /** @type {string} */ label, /** @type {HTMLElement} */ control, /** @type {string|undefined} */ hint) {
  const id = control.id || (control.id = uid('sv'));
  const error = h('p', { class: 'field-error', id: `${id}-error`, 'data-error-for': path });
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  control.setAttribute('aria-describedby', [hintEl ? hintEl.id : null, error.id].filter(Boolean).join(' '));
  control.setAttribute('data-path', path);
  registry.set(path, { control, error });
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl, error);
}

const text = (/** @type {string|null|undefined} */ value, /** @type {Record<string, any>} */ attrs = {}) => h('input', { type: 'text', value: value ?? '', autocomplete: 'off', ...attrs });
const number = (/** @type {number|null|undefined} */ value, /** @type {Record<string, any>} */ attrs = {}) => h('input', { type: 'number', value: value ?? '', inputmode: 'numeric', ...attrs });
const choice = (/** @type {string[]} */ values, /** @type {string} */ current, /** @type {(v: string) => string} */ label) => h('select', null, values.map((v) => h('option', { value: v, selected: v === current }, label(v))));
const val = (/** @type {HTMLElement} */ el) => /** @type {HTMLInputElement} */ (el).value;
/** A number field: '' → fallback; anything else as typed (the API says when it is out of range). */
const num = (/** @type {HTMLElement} */ el, /** @type {number|null} */ fallback) => (val(el).trim() === '' ? fallback : Number(val(el)));
const opt = (/** @type {HTMLElement} */ el) => (val(el).trim() === '' ? null : val(el).trim());

/** A filter rule's value as typed: JSON when it parses (lists, numbers, booleans), else the text. */
function ruleValue(/** @type {string} */ op, /** @type {string} */ raw) {
  if (op === 'exists' || op === 'not_exists') return null;
  if (raw.trim() === '') return null;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}
const showValue = (/** @type {any} */ value) => (value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value));

/**
 * Builds the form for `survey`; `onInput` is called (debounced by the caller) on every change.
 * @param {any} survey
 * @param {{ onInput: () => void, onSubmit: (definition: any) => void, submitLabel: string, readOnly: boolean, submit: HTMLElement }} o
 */
export function surveyForm(survey, o) {
  /** @type {Map<string, { control: HTMLElement, error: HTMLElement }>} */
  const registry = new Map();
  const f = (/** @type {string} */ path, /** @type {string} */ label, /** @type {HTMLElement} */ control, /** @type {string} */ hint = '') => fieldFor(registry, path, label, control, hint || undefined);

  const name = text(survey.name, { name: 'name', required: true, maxlength: 200 });
  const kind = choice(KINDS, survey.kind, (k) => t(`surveys.kind.${k}`));
  kind.setAttribute('name', 'kind');
  const feature = text(survey.feature, { name: 'feature', maxlength: 200 });

  const question = Object.fromEntries(LANGS.map((l) => [l, h('textarea', { name: `question.${l}`, rows: 2, lang: l, maxlength: 500, value: survey.question?.[l] ?? '' })]));
  const followUps = Object.fromEntries(SEGMENTS.map((s) => [s, Object.fromEntries(LANGS.map((l) => [l, text(survey.follow_up?.[s]?.[l], { name: `follow_up.${s}.${l}`, lang: l, maxlength: 500 })]))]));

  const trigger = survey.trigger || blank().trigger;
  const event = text(trigger.event, { name: 'trigger.event', maxlength: 200 });
  const url = text(trigger.url, { name: 'trigger.url' });
  const minViews = number(trigger.min_page_views, { name: 'trigger.min_page_views', min: 0 });
  const minSessions = number(trigger.min_sessions, { name: 'trigger.min_sessions', min: 0 });
  const delay = number(trigger.delay_ms, { name: 'trigger.delay_ms', min: 0, step: 100 });

  /** @type {Record<string, { trait: HTMLElement, op: HTMLElement, value: HTMLElement }[]>} */
  const rules = { user: [], account: [] };
  /** @type {Record<string, HTMLElement>} */
  const ruleLists = {};
  const drawRules = (/** @type {'user'|'account'} */ scope) => {
    for (const key of [...registry.keys()]) if (key.startsWith(`filters.${scope}[`)) registry.delete(key);
    replace(ruleLists[scope], rules[scope].map((rule, index) => {
      const path = `filters.${scope}[${index}]`;
      const error = h('p', { class: 'field-error', id: uid('rule-error'), 'data-error-for': path });
      registry.set(path, { control: rule.trait, error });
      for (const c of [rule.trait, rule.op, rule.value]) c.setAttribute('aria-describedby', error.id);
      const n = index + 1;
      return h('fieldset', { class: 'rule' }, h('legend', null, t('surveys.filters.rule', { n })),
        h('div', { class: 'rule-row' },
          labelled(t('surveys.filters.trait'), rule.trait), labelled(t('surveys.filters.op'), rule.op), labelled(t('surveys.filters.value'), rule.value),
          o.readOnly ? null : h('button', { type: 'button', class: 'link', onclick: () => { rules[scope].splice(index, 1); drawRules(scope); o.onInput(); } }, t('surveys.filters.remove', { n }))),
        error);
    }));
  };
  const addRule = (/** @type {'user'|'account'} */ scope, /** @type {any} */ rule) => {
    const op = choice(OPS, rule.op || 'eq', (x) => x);
    op.setAttribute('name', `filters.${scope}.op`);
    rules[scope].push({ trait: text(rule.trait, { name: `filters.${scope}.trait` }), op, value: text(showValue(rule.value), { name: `filters.${scope}.value` }) });
  };
  for (const scope of /** @type {const} */ (['user', 'account'])) {
    ruleLists[scope] = h('div', { class: 'rules' });
    for (const rule of survey.filters?.[scope] || []) addRule(scope, rule);
  }

  const sample = number(survey.sample_percent, { name: 'sample_percent', min: 0, max: 100, step: 'any' });
  const mode = choice(MODES, survey.frequency?.mode || 'until_answered', (m) => t(`surveys.frequency.${m}`));
  mode.setAttribute('name', 'frequency.mode');
  const everyDays = number(survey.frequency?.every_days, { name: 'frequency.every_days', min: 1 });
  const capMax = number(survey.account_cap?.max_responses, { name: 'account_cap.max_responses', min: 1 });
  const capPeriod = number(survey.account_cap?.period_days, { name: 'account_cap.period_days', min: 1 });
  const placement = choice(PLACEMENTS, survey.placement || 'popover', (p) => t(`surveys.placement.${p}`));
  placement.setAttribute('name', 'placement');
  const selector = text(survey.inline_selector, { name: 'inline_selector', maxlength: 200 });

  const summary = h('div', { class: 'form-problems', role: 'alert', tabindex: '-1' });

  /** The definition the form shows now (what the API is sent, and the preview shows). */
  function definition() {
    /** @type {(texts: Record<string, HTMLElement>) => Record<string, string>} */
    const texts = (inputs) => Object.fromEntries(LANGS.map((l) => [l, val(inputs[l])]).filter(([, v]) => v.trim() !== ''));
    const follow = Object.fromEntries(SEGMENTS.map((s) => [s, texts(followUps[s])]).filter(([, v]) => Object.keys(v).length));
    const capGiven = val(capMax).trim() !== '' || val(capPeriod).trim() !== '';
    const modeValue = val(mode);
    return {
      name: val(name),
      kind: val(kind),
      question: texts(question),
      follow_up: Object.keys(follow).length ? { default: follow.default || {}, ...Object.fromEntries(SEGMENTS.slice(1).map((s) => [s, follow[s] || null])) } : null,
      feature: opt(feature),
      trigger: { event: opt(event), url: opt(url), min_page_views: num(minViews, 0), min_sessions: num(minSessions, 0), delay_ms: num(delay, 0) },
      filters: Object.fromEntries(['user', 'account'].map((scope) => [scope, rules[scope].map((r) => ({ trait: val(r.trait).trim(), op: val(r.op), value: ruleValue(val(r.op), val(r.value)) }))])),
      sample_percent: num(sample, 100),
      frequency: { mode: modeValue, every_days: modeValue === 'recurring' ? num(everyDays, null) : (val(everyDays).trim() === '' ? null : num(everyDays, null)) },
      account_cap: capGiven ? { max_responses: num(capMax, 0), period_days: num(capPeriod, 0) } : null,
      placement: val(placement),
      inline_selector: opt(selector),
    };
  }

  /** Clears every error message. */
  function clearErrors() {
    replace(summary);
    for (const { control, error } of registry.values()) {
      error.textContent = '';
      control.removeAttribute('aria-invalid');
    }
  }

  /**
   * Shows an API error: each problem next to the field its path names (the longest registered
   * path it starts with), the rest in the summary above the form; focuses the first field.
   * @param {any} error an ApiError
   */
  function showErrors(error) {
    clearErrors();
    const body = error.body || {};
    /** @type {[string|null, string][]} */
    const problems = [];
    if (Array.isArray(body.problems)) for (const p of body.problems) problems.push([null, String(p)]);
    else if (Array.isArray(body.details)) for (const d of body.details) problems.push([d.key ? String(d.key) : null, `${d.key ? `${d.key}: ` : ''}${d.message}`]);
    else problems.push([null, error.message]);
    /** @type {HTMLElement|null} */
    let first = null;
    const loose = [];
    for (const [key, message] of problems) {
      const path = key && registry.has(key) ? key : pathOf(message);
      const target = path ? registry.get(path) : null;
      if (target) {
        target.error.textContent = target.error.textContent ? `${target.error.textContent} ${message}` : message;
        target.control.setAttribute('aria-invalid', 'true');
        first = first || target.control;
      } else loose.push(message);
    }
    replace(summary, h('p', null, h('strong', null, t('surveys.invalid'))), h('ul', null, problems.map(([, m]) => h('li', null, m))));
    if (loose.length && !first) summary.focus();
    else first?.focus();
  }

  /** The registered path a problem sentence starts with (or names, for inline_selector). */
  function pathOf(/** @type {string} */ message) {
    if (/needs inline_selector|inline_selector only/.test(message)) return 'inline_selector';
    let best = null;
    for (const key of registry.keys()) {
      if (!message.startsWith(key)) continue;
      const next = message.charAt(key.length);
      if ((next === '' || next === ' ' || next === ':' || next === '.' || next === '[') && (!best || key.length > best.length)) best = key;
    }
    if (best) return best;
    // "follow_up.detractor: locale …" or "question needs …": the group's first field.
    const group = message.match(/^(question|follow_up\.\w+|account_cap|frequency)\b/);
    if (group) return [...registry.keys()].find((k) => k.startsWith(group[1])) || null;
    return null;
  }

  const langFields = (/** @type {string} */ prefix, /** @type {Record<string, HTMLElement>} */ inputs, /** @type {string} */ hint = '') => LANGS.map((l, i) => f(`${prefix}.${l}`, `${t(`surveys.lang.${l}`)} (${l})`, inputs[l], i === 0 ? hint : ''));
  const form = h('form', { class: 'survey-form', novalidate: true, oninput: () => o.onInput(), onchange: () => o.onInput(), onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); o.onSubmit(definition()); } },
    summary,
    h('div', { class: 'grid-2' }, f('name', t('surveys.name'), name, t('surveys.nameHint')), f('kind', t('surveys.kind'), kind)),
    h('fieldset', null, h('legend', null, t('surveys.question')), ...langFields('question', question, t('surveys.questionHint'))),
    f('feature', t('surveys.feature'), feature),
    h('details', { class: 'section', open: !!survey.follow_up },
      h('summary', null, t('surveys.followUp')),
      SEGMENTS.map((s) => h('fieldset', null, h('legend', null, t(`surveys.followUp.${s}`)), ...langFields(`follow_up.${s}`, followUps[s])))),
    h('fieldset', null, h('legend', null, t('surveys.trigger')),
      h('div', { class: 'grid-2' },
        f('trigger.event', t('surveys.trigger.event'), event, t('surveys.trigger.eventHint')),
        f('trigger.url', t('surveys.trigger.url'), url, t('surveys.trigger.urlHint')),
        f('trigger.min_page_views', t('surveys.trigger.min_page_views'), minViews),
        f('trigger.min_sessions', t('surveys.trigger.min_sessions'), minSessions),
        f('trigger.delay_ms', t('surveys.trigger.delay_ms'), delay))),
    h('fieldset', null, h('legend', null, t('surveys.filters')),
      h('p', { class: 'hint' }, t('surveys.filters.valueHint')),
      ['user', 'account'].map((scope) => h('div', { class: 'rule-group' },
        h('h3', null, t(`surveys.filters.${scope}`)),
        ruleLists[scope],
        o.readOnly ? null : h('button', { type: 'button', class: `add-rule add-rule-${scope}`, onclick: () => { addRule(/** @type {any} */ (scope), {}); drawRules(/** @type {any} */ (scope)); rules[scope][rules[scope].length - 1].trait.focus(); } }, t('surveys.filters.add')))),
      f('sample_percent', t('surveys.sample'), sample)),
    h('fieldset', null, h('legend', null, t('surveys.frequency')),
      h('div', { class: 'grid-2' },
        f('frequency.mode', t('surveys.frequency'), mode),
        f('frequency.every_days', t('surveys.everyDays'), everyDays, t('surveys.everyDaysHint')),
        f('account_cap.max_responses', t('surveys.cap.max'), capMax, t('surveys.cap')),
        f('account_cap.period_days', t('surveys.cap.period'), capPeriod))),
    h('fieldset', null, h('legend', null, t('surveys.placement')),
      h('div', { class: 'grid-2' }, f('placement', t('surveys.placement'), placement), f('inline_selector', t('surveys.inlineSelector'), selector, t('surveys.inlineSelectorHint')))),
    h('div', { class: 'toolbar form-actions' }, o.submit));
  drawRules('user');
  drawRules('account');
  // account_cap problems name the group: show them at its first field.
  registry.set('account_cap', /** @type {any} */ (registry.get('account_cap.max_responses')));
  // A role without surveys:write reads the definition: text stays focusable (read-only), choices are disabled.
  if (o.readOnly) for (const el of form.querySelectorAll('input, select, textarea')) el.tagName === 'SELECT' ? /** @type {HTMLSelectElement} */ (el).disabled = true : el.setAttribute('readonly', '');
  return { form, definition, showErrors, clearErrors };
}

const labelled = (/** @type {string} */ label, /** @type {HTMLElement} */ control) => {
  const id = control.id || (control.id = uid('rf'));
  return h('div', { class: 'field' }, h('label', { for: id }, label), control);
};
