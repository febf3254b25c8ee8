// Surveys: the list (/surveys), the editor (/surveys/:id, /surveys/new) with the API's validation
// messages next to the fields, activate/pause, delete with a confirmation, and a live preview: an
// iframe at /console/preview (pages/preview.js) that the real widget bundle renders into, posted
// the form's definition and a locale on every change.
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { fmt } from '../format.js';
import { empty, failure, guarded } from '../components/ui.js';
import { surveyForm, blank, LANGS } from './surveys/form.js';
import './surveys/messages.js';

const WRITE = 'surveys:write';
const PREVIEW_ID = 'srv_preview';
/** The preview's language tabs: each language in its own words. */
const NATIVE = /** @type {Record<string, string>} */ ({ en: 'English', 'zh-CN': '简体中文', 'zh-TW': '繁體中文' });

/** @param {import('../main.js').PageContext} ctx */
export default async function render(ctx) {
  if (!ctx.params.id) return list(ctx);
  return editor(ctx, ctx.params.id === 'new' ? null : ctx.params.id);
}

const statusBadge = (/** @type {string} */ status) => h('span', { class: `survey-status survey-status-${status}` }, t(`surveys.status.${status}`));

/** Activate or pause; answers the survey as the API does now. */
async function setStatus(/** @type {import('../main.js').PageContext} */ ctx, /** @type {any} */ survey, /** @type {'activate'|'pause'} */ action) {
  const answer = await ctx.api.post(`/v1/surveys/${encodeURIComponent(survey.id)}/${action}`);
  ctx.announce(t(action === 'activate' ? 'surveys.activated' : 'surveys.paused', { name: answer.name }));
  return answer;
}

const statusButton = (/** @type {import('../main.js').PageContext} */ ctx, /** @type {any} */ survey, /** @type {(s: any) => void} */ done, /** @type {(e: any) => void} */ failed) => {
  const action = survey.status === 'active' ? 'pause' : 'activate';
  return guarded(ctx, WRITE, { class: `survey-${action}`, onclick: async () => {
    try {
      done(await setStatus(ctx, survey, action));
    } catch (error) {
      failed(error);
    }
  } }, t(`surveys.${action}`), h('span', { class: 'sr-only' }, `: ${survey.name}`));
};

/**
 * Responses, score and response rate per survey over the last three years: one insights request
 * per kind in the list (not one per survey). Null when the role cannot read insights or the
 * request fails (the list still shows).
 * @returns {Promise<Map<string, any> | null>}
 */
async function responseStats(/** @type {import('../main.js').PageContext} */ ctx, /** @type {any[]} */ surveys) {
  if (!ctx.can('insights:read') || !surveys.length) return null;
  const from = new Date(Date.now() - 1095 * 86400000).toISOString().slice(0, 10);
  const kinds = [...new Set(surveys.map((s) => s.kind))];
  try {
    const answers = await Promise.all(kinds.map((kind) => ctx.api.get('/v1/insights/ratings', { kind, group_by: 'survey', period: 'all', from }, ctx.signal)));
    const stats = new Map();
    for (const answer of answers) for (const row of answer.rows) stats.set(row.groups.survey, row);
    return stats;
  } catch {
    return null;
  }
}

async function list(/** @type {import('../main.js').PageContext} */ ctx) {
  ctx.title(t('surveys.title'));
  const answer = await ctx.api.get('/v1/surveys', {}, ctx.signal);
  const surveys = answer.surveys;
  const stats = await responseStats(ctx, surveys);
  const message = h('div', { class: 'list-message' });
  const body = h('tbody');
  const draw = () => replace(body, surveys.map((/** @type {any} */ s, /** @type {number} */ i) => h('tr', { 'data-id': s.id },
    h('th', { scope: 'row' }, h('a', { href: `/console/surveys/${encodeURIComponent(s.id)}`, 'data-link': '' }, s.name)),
    h('td', null, t(`surveys.kind.${s.kind}`)),
    h('td', null, statusBadge(s.status)),
    h('td', null, s.feature || '–'),
    h('td', null, t(`surveys.placement.${s.placement}`)),
    h('td', { class: 'num responses' }, stats ? fmt.number(stats.get(s.id)?.n ?? 0) : '–'),
    h('td', { class: 'num score' }, stats && stats.get(s.id)?.metric != null ? fmt.number(stats.get(s.id).metric, 1) : '–'),
    h('td', { class: 'num rate' }, stats && stats.get(s.id)?.response_rate != null ? fmt.percent(stats.get(s.id).response_rate) : '–'),
    h('td', null, h('time', { datetime: s.updated_at, title: fmt.dateTime(s.updated_at) }, fmt.relative(s.updated_at))),
    h('td', null, statusButton(ctx, s, (next) => { surveys[i] = next; replace(message); draw(); }, (error) => replace(message, failure(error)))))));
  draw();
  replace(ctx.root,
    h('div', { class: 'page-head' },
      h('h1', null, t('surveys.title')),
      ctx.can(WRITE) ? h('a', { class: 'button primary new-survey', href: '/console/surveys/new', 'data-link': '' }, t('surveys.new')) : guarded(ctx, WRITE, { class: 'primary new-survey' }, t('surveys.new'))),
    message,
    surveys.length
      ? h('table', { class: 'grid surveys-table' },
        h('caption', { class: 'sr-only' }, t('surveys.list')),
        h('thead', null, h('tr', null, ['surveys.name', 'surveys.kind', 'surveys.status', 'surveys.feature', 'surveys.placementCol', 'surveys.responses', 'surveys.score', 'surveys.rate', 'surveys.updated', 'surveys.actions'].map((k) => h('th', { scope: 'col', class: ['surveys.responses', 'surveys.score', 'surveys.rate'].includes(k) ? 'num' : null }, t(k))))),
        body)
      : empty(t('surveys.none')));
  ctx.ready();
}

async function editor(/** @type {import('../main.js').PageContext} */ ctx, /** @type {string|null} */ id) {
  const canWrite = ctx.can(WRITE);
  let survey = id ? await ctx.api.get(`/v1/surveys/${encodeURIComponent(id)}`, {}, ctx.signal) : { ...blank(), id: null, status: null };
  const heading = h('h1', null, id ? t('surveys.edit', { name: survey.name }) : t('surveys.new'));
  ctx.title(id ? survey.name : t('surveys.new'));
  const status = h('p', { class: 'survey-state' });
  const notice = h('div', { class: 'notice', role: 'status' });
  const actions = h('div', { class: 'toolbar survey-actions' });
  const submit = guarded(ctx, WRITE, { type: canWrite ? 'submit' : 'button', class: 'primary save-survey' }, id ? t('surveys.save') : t('surveys.create'));

  // ---- the preview frame ----------------------------------------------------------------------
  let previewLocale = LANGS.includes(/** @type {any} */ (ctx.query.get('lang'))) ? /** @type {string} */ (ctx.query.get('lang')) : (LANGS.includes(/** @type {any} */ (ctx.locale)) ? ctx.locale : 'en');
  const frame = /** @type {HTMLIFrameElement} */ (h('iframe', { class: 'preview-frame', src: '/console/preview', title: t('surveys.previewFrame', { language: t(`surveys.lang.${previewLocale}`) }) }));
  let frameLoaded = false;
  const post = () => {
    if (!frameLoaded || !frame.contentWindow) return;
    frame.contentWindow.postMessage({ type: 'cxloop:preview', locale: previewLocale, survey: { ...editorForm.definition(), id: survey.id || PREVIEW_ID } }, location.origin);
  };
  frame.addEventListener('load', () => { frameLoaded = true; post(); });
  window.addEventListener('message', (event) => {
    if (event.origin !== location.origin || event.source !== frame.contentWindow || event.data?.type !== 'cxloop:preview-ready') return;
    frameLoaded = true;
    post();
  }, { signal: ctx.signal });
  /** @type {ReturnType<typeof setTimeout>|undefined} */
  let timer;
  const schedule = () => { clearTimeout(timer); timer = setTimeout(post, 150); };
  const tabs = h('div', { class: 'tabs preview-tabs', role: 'tablist', 'aria-label': t('surveys.preview') });
  const drawTabs = () => replace(tabs, LANGS.map((l) => h('button', { type: 'button', role: 'tab', id: `preview-tab-${l}`, lang: l, 'aria-selected': String(l === previewLocale), 'aria-controls': 'preview-panel', tabindex: l === previewLocale ? '0' : '-1',
    onclick: () => choose(l),
    onkeydown: (/** @type {KeyboardEvent} */ e) => {
      const at = LANGS.indexOf(l);
      const next = e.key === 'ArrowRight' ? LANGS[(at + 1) % LANGS.length] : e.key === 'ArrowLeft' ? LANGS[(at + LANGS.length - 1) % LANGS.length] : null;
      if (next) { e.preventDefault(); choose(next); /** @type {HTMLElement|null} */ (tabs.querySelector(`#preview-tab-${next}`))?.focus(); }
    } }, NATIVE[l])));
  const choose = (/** @type {string} */ l) => {
    previewLocale = l;
    ctx.setQuery({ lang: l });
    frame.title = t('surveys.previewFrame', { language: t(`surveys.lang.${l}`) });
    panel.setAttribute('aria-labelledby', `preview-tab-${l}`);
    drawTabs();
    post();
  };
  drawTabs();
  const panel = h('div', { id: 'preview-panel', role: 'tabpanel', 'aria-labelledby': `preview-tab-${previewLocale}` }, frame);

  // ---- the form -------------------------------------------------------------------------------
  const editorForm = surveyForm(survey, {
    onInput: schedule,
    readOnly: !canWrite,
    submit,
    submitLabel: id ? t('surveys.save') : t('surveys.create'),
    onSubmit: async (definition) => {
      if (!canWrite) return;
      editorForm.clearErrors();
      replace(notice);
      submit.setAttribute('aria-busy', 'true');
      try {
        if (id) {
          survey = await ctx.api.put(`/v1/surveys/${encodeURIComponent(id)}`, definition);
          heading.textContent = t('surveys.edit', { name: survey.name });
          replace(notice, h('p', null, t('surveys.saved')));
          ctx.announce(t('surveys.saved'));
          drawActions();
        } else {
          const created = await ctx.api.post('/v1/surveys', definition);
          ctx.announce(t('surveys.created'));
          ctx.navigate(`/surveys/${encodeURIComponent(created.id)}?created=1`, { replace: true });
        }
      } catch (error) {
        if (/** @type {any} */ (error).status === 400) editorForm.showErrors(error);
        else replace(notice, failure(error));
      } finally {
        submit.removeAttribute('aria-busy');
      }
    },
  });

  // ---- status and delete ----------------------------------------------------------------------
  const dialog = /** @type {HTMLDialogElement} */ (h('dialog', { class: 'confirm-delete', 'aria-labelledby': 'delete-title' }));
  /** @type {HTMLElement|null} */
  let opener = null;
  dialog.addEventListener('close', () => opener?.focus());
  function confirmDelete() {
    opener = /** @type {HTMLElement|null} */ (document.activeElement);
    const error = h('div', { role: 'alert' });
    replace(dialog,
      h('h2', { id: 'delete-title' }, t('surveys.confirmDelete', { name: survey.name })),
      error,
      h('div', { class: 'toolbar' },
        h('button', { type: 'button', class: 'danger confirm', onclick: async () => {
          try {
            await ctx.api.del(`/v1/surveys/${encodeURIComponent(survey.id)}`);
            opener = null;
            dialog.close();
            ctx.announce(t('surveys.deleted', { name: survey.name }));
            ctx.navigate('/surveys');
          } catch (e) {
            replace(error, failure(e));
          }
        } }, t('surveys.delete')),
        h('button', { type: 'button', class: 'cancel', onclick: () => dialog.close() }, t('surveys.cancel'))));
    dialog.showModal();
    /** @type {HTMLElement|null} */ (dialog.querySelector('button.cancel'))?.focus();
  }

  function drawActions() {
    replace(status, t('surveys.status'), ': ', survey.status ? statusBadge(survey.status) : h('span', { class: 'muted' }, t('surveys.unsaved')));
    if (!survey.id) return replace(actions);
    replace(actions,
      statusButton(ctx, survey, (next) => { survey = next; drawActions(); replace(notice, h('p', null, t(next.status === 'active' ? 'surveys.activated' : 'surveys.paused', { name: next.name }))); }, (error) => replace(notice, failure(error))),
      guarded(ctx, WRITE, { class: 'danger delete-survey', onclick: confirmDelete, 'aria-haspopup': 'dialog' }, t('surveys.delete')));
  }
  drawActions();
  if (ctx.query.get('created')) replace(notice, h('p', null, t('surveys.created')));

  replace(ctx.root,
    h('p', null, h('a', { href: '/console/surveys', 'data-link': '' }, '← ', t('surveys.back'))),
    heading,
    h('div', { class: 'survey-head' }, status, actions),
    notice,
    h('div', { class: 'survey-editor' },
      h('div', { class: 'survey-form-col' }, editorForm.form),
      h('section', { class: 'survey-preview card', 'aria-labelledby': 'preview-title' },
        h('h2', { id: 'preview-title' }, t('surveys.preview')),
        h('p', { class: 'hint' }, t('surveys.previewHint')),
        tabs,
        panel)),
    dialog);
  ctx.ready();
}

