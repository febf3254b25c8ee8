// The survey preview (/console/preview, framed by the Surveys page, rendered without the layout):
// it waits for the page's message {type: 'cxloop:preview', survey, locale} (same origin only) and
// shows that survey with the REAL widget bundle, /sdk/v1/cxloop-surveys.min.js. The bundle reads
// its plug from its script element (sdk-js/src/surveys/browser.js: [api, config, writeKey,
// options, store, feed]); the feed's ['survey', id] call shows a survey at once (cxloop.survey(id):
// no trigger, sampling or throttling). The api is a no-op and the store forgets: nothing is sent
// and nothing is kept. Each message runs the bundle again on a fresh plug.
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import './surveys/messages.js';

const BUNDLE = '/sdk/v1/cxloop-surveys.min.js';
/**
 * The SDK's build mangles its private `_names` to the short names pinned in sdk-js/mangle-cache.json
 * (the bundle reads `script.$`, not `script._plug`); the preview sets both. The surveys browser
 * test holds these equal to that file.
 */
export const SDK_NAMES = { _plug: '$', _get: 'n', _set: 'e', _del: 'o', _persist: 'j' };
/** An object with each private name both as written and as built. */
const both = (/** @type {Record<string, any>} */ fields) => Object.fromEntries(Object.entries(fields).flatMap(([k, v]) => [[k, v], [/** @type {any} */ (SDK_NAMES)[k] || k, v]]));
const INLINE_ID = 'cxloop-preview-inline';

/** @param {{ root: HTMLElement, nonce: string, ready: () => void, locale: string }} ctx */
export default async function preview(ctx) {
  document.title = t('preview.title');
  document.body.classList.add('preview-body');
  const status = h('p', { class: 'preview-status', role: 'status' }, t('preview.waiting'));
  const inline = h('div', { id: INLINE_ID, class: 'preview-inline' });
  /** @type {{ survey: any, locale: string } | null} */
  let last = null;
  const again = h('button', { type: 'button', class: 'preview-again', hidden: true, onclick: () => last && show(last.survey, last.locale) }, t('preview.again'));
  replace(ctx.root, h('main', { class: 'preview', id: 'main' }, h('h1', { class: 'sr-only' }, t('preview.title')), status, again, inline));

  // The widget moves the focus into a popover when it opens; in the preview it must never take
  // the focus from the form the person is typing in (the frame gets it only when it has it).
  const focus = HTMLElement.prototype.focus;
  HTMLElement.prototype.focus = function focusInFrame(/** @type {FocusOptions|undefined} */ options) {
    if (document.hasFocus()) focus.call(this, options);
  };

  let sdkMissing = false;
  let generation = 0;

  /** @type {MutationObserver|null} */
  let watching = null;
  function clear() {
    watching?.disconnect();
    watching = null;
    for (const el of document.querySelectorAll('cxloop-survey, script[data-preview]')) el.remove();
  }

  function show(/** @type {any} */ survey, /** @type {string} */ locale) {
    last = { survey, locale };
    clear();
    again.hidden = true;
    if (sdkMissing) return;
    const texts = survey && survey.question ? Object.values(survey.question).filter((v) => typeof v === 'string' && v.trim()) : [];
    if (!texts.length) {
      status.textContent = t('preview.empty');
      document.body.setAttribute('data-preview', 'empty');
      return;
    }
    status.textContent = '';
    const shown = { ...survey, id: String(survey.id || 'srv_preview') };
    // An inline survey renders into the preview's own element, whatever its selector says.
    if (shown.placement === 'inline') shown.inline_selector = `#${INLINE_ID}`;
    const mine = ++generation;
    const noop = () => {};
    const api = { track: noop, user: () => ({ anonymousId: 'preview', userId: null, groupId: null }) };
    const store = both({ _get: () => null, _set: noop, _del: noop, _persist: noop });
    /** @type {any[]} */
    const feed = [['survey', shown.id]];
    const script = /** @type {HTMLScriptElement & { _plug?: any }} */ (document.createElement('script'));
    script.src = BUNDLE;
    script.nonce = ctx.nonce;
    script.setAttribute('data-preview', '');
    const plug = [api, { surveys: [shown], cooldown_days: 0, snooze_days: 0 }, 'preview', { locale, nonce: ctx.nonce }, store, feed];
    Object.assign(script, both({ _plug: plug }));
    script.addEventListener('load', () => {
      if (mine !== generation) return;
      const host = document.querySelector('cxloop-survey');
      document.body.setAttribute('data-preview', host ? locale : 'none');
      watchClose(host);
    });
    script.addEventListener('error', () => {
      sdkMissing = true;
      status.textContent = t('preview.noSdk');
      status.setAttribute('role', 'alert');
      document.body.setAttribute('data-preview', 'no-sdk');
    });
    document.body.setAttribute('data-preview', 'loading');
    document.body.append(script);
  }

  /** When the widget closes (answered, dismissed), offer to show it again. */
  function watchClose(/** @type {Element|null} */ host) {
    if (!host) return;
    const observer = new MutationObserver(() => {
      if (host.isConnected) return;
      observer.disconnect();
      if (!document.querySelector('cxloop-survey')) again.hidden = false;
    });
    observer.observe(host.parentNode || document.body, { childList: true });
    watching = observer;
  }

  window.addEventListener('message', (event) => {
    if (event.origin !== location.origin || event.source !== window.parent) return;
    const data = event.data;
    if (!data || data.type !== 'cxloop:preview' || typeof data.survey !== 'object') return;
    const locale = ['en', 'zh-CN', 'zh-TW'].includes(data.locale) ? data.locale : 'en';
    document.documentElement.lang = locale;
    show(data.survey, locale);
  });
  // The page may have posted before this listener existed (the frame's load event comes first):
  // say we listen now, and it posts the current definition again.
  if (window.parent !== window) window.parent.postMessage({ type: 'cxloop:preview-ready' }, location.origin);
  ctx.ready();
}
