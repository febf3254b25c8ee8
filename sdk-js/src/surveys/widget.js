/**
 * The rating widget: a `<cxloop-survey>` element with an open shadow root.
 *
 * - Strict CSP: no inline style attribute, no `eval`; the stylesheet is a constructed one
 *   (`adoptedStyleSheets`, which `style-src` does not govern), else a `<style>` with the nonce.
 *   Every text, the server's included, is set with `textContent` (or as an attribute), never
 *   parsed as HTML.
 * - Accessible (WCAG 2.2 AA, measured by test/browser/a11y.test.mjs): a dialog (a region when
 *   inline) labelled by the question; the scale is a radiogroup with a roving tabindex: arrow keys,
 *   Home and End move the choice, Enter or Space (or a click) answers. Focus moves into a popover or
 *   modal when it opens. Whenever the widget holds the focus as it closes, the focus goes back where
 *   the person was (see `focusBack`). Esc dismisses, from the page too for a popover. Tab stays
 *   inside a modal and the page behind it is inert. An open popover moves to the other edge when
 *   it would hide the page control that takes the focus.
 * - IME-safe: Enter submits the comment, except while an input method is composing.
 */

import { STRINGS, pickText } from './i18n.js';
import { SCALES, segment } from './targeting.js';
import { CSS } from './styles.js';

/** @import { Locale } from './i18n.js' */
/** @import { Survey } from './targeting.js' */

/** @typedef {'close' | 'escape' | 'snooze' | 'done'} CloseReason */
/**
 * What the widget reports; the engine turns it into events and state.
 * @typedef {{ score: (score: number) => void, complete: (comment: string) => void,
 *   closed: (reason: CloseReason) => void }} WidgetEvents
 */
/** @typedef {{ close: (reason: CloseReason) => void }} Widget */

/** Pictures for the kinds that show no numbers; their names are in STRINGS. */
const PICTURES = { thumbs: ['👎', '👍'], emoji: ['😞', '🙁', '😐', '🙂', '😄'] };
/** How long the thanks stay on screen. */
export const THANKS_MS = 2500;

/** One stylesheet per window, shared by every widget. */
const sheets = new WeakMap();

/**
 * Renders the survey. Returns null when it cannot be shown (an inline survey whose element is
 * not on the page).
 * @param {Window & typeof globalThis} win
 * @param {Survey} survey
 * @param {{ locale: Locale, nonce?: string, events: WidgetEvents }} o
 * @returns {Widget | null}
 */
export function renderWidget(win, survey, { locale, nonce, events }) {
  const doc = win.document;
  const placement = survey.placement || 'popover';
  const strings = STRINGS[locale];
  const question = /** @type {[string, string]} */ (pickText(survey.question, locale));
  /** @type {Element | null} */
  let parent = doc.body;
  if (placement === 'inline') {
    try {
      parent = doc.querySelector(/** @type {string} */ (survey.inline_selector));
    } catch (e) {
      parent = null; // not a valid selector
    }
  }
  if (!parent) return null;

  /**
   * @template {keyof HTMLElementTagNameMap} K
   * @param {K} tag
   * @param {string} [className]
   * @param {string} [text]
   * @returns {HTMLElementTagNameMap[K]}
   */
  const el = (tag, className, text) => {
    const node = doc.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  };

  const host = doc.createElement('cxloop-survey');
  host.setAttribute('data-survey', survey.id);
  const root = host.attachShadow({ mode: 'open' });
  adoptStyles(win, root, nonce);

  const panel = el('div', 'panel ' + placement);
  panel.setAttribute('role', placement === 'inline' ? 'region' : 'dialog');
  if (placement === 'modal') panel.setAttribute('aria-modal', 'true');
  panel.setAttribute('aria-labelledby', 'cxloop-q');
  panel.lang = locale;
  panel.tabIndex = -1;

  const title = el('p', 'question', question[0]);
  title.id = 'cxloop-q';
  title.lang = question[1];

  const hint = el('p', 'sr', strings.hint);
  hint.id = 'cxloop-hint';

  const [low, high] = SCALES[survey.kind];
  const pictures = /** @type {string[] | undefined} */ (PICTURES[/** @type {'thumbs' | 'emoji'} */ (survey.kind)]);
  const names = /** @type {string[]} */ (strings[survey.kind]);
  const group = el('div', 'scale n' + (high - low + 1) + (pictures ? ' pictures' : ''));
  group.setAttribute('role', 'radiogroup');
  group.setAttribute('aria-labelledby', 'cxloop-q');
  group.setAttribute('aria-describedby', 'cxloop-hint');
  /** @type {HTMLButtonElement[]} */
  const radios = [];
  for (let score = low; score <= high; score++) {
    const i = score - low;
    const radio = el('button', 'radio', pictures ? '' : String(score));
    radio.type = 'button';
    radio.value = String(score);
    radio.setAttribute('role', 'radio');
    radio.setAttribute('aria-checked', 'false');
    radio.tabIndex = i ? -1 : 0;
    const name = pictures ? names[i] : score === low ? names[0] : score === high ? names[1] : '';
    if (name) radio.setAttribute('aria-label', pictures ? name : score + ', ' + name);
    if (pictures) {
      // The picture, and its name as visible text (the same words as the accessible name).
      const picture = el('span', 'pic', pictures[i]);
      picture.setAttribute('aria-hidden', 'true');
      radio.append(picture, el('span', 'name', name));
    }
    radios.push(radio);
    group.append(radio);
  }
  const ends = pictures ? null : el('div', 'ends');
  if (ends) {
    ends.setAttribute('aria-hidden', 'true');
    ends.append(el('span', '', names[0]), el('span', '', names[1]));
  }

  const later = el('button', 'later', strings.later);
  later.type = 'button';
  const actions = el('div', 'actions');
  actions.append(later);

  const status = el('p', 'thanks');
  status.setAttribute('role', 'status');

  const close = el('button', 'close', '×');
  close.type = 'button';
  close.setAttribute('aria-label', strings.close);

  panel.append(title, hint, group);
  if (ends) panel.append(ends);
  panel.append(actions, status, close);

  const backdrop = placement === 'modal' ? el('div', 'backdrop') : null;
  if (backdrop) root.append(backdrop);
  root.append(panel);

  /** @param {number} index @param {boolean} focus */
  const choose = (index, focus) => {
    radios.forEach((radio, i) => {
      radio.setAttribute('aria-checked', String(i === index));
      radio.tabIndex = i === index ? 0 : -1;
    });
    if (focus) radios[index].focus();
  };

  group.addEventListener('keydown', (event) => {
    const index = radios.indexOf(/** @type {HTMLButtonElement} */ (event.target));
    if (index < 0) return;
    const key = event.key;
    const next = key === 'ArrowRight' || key === 'ArrowDown' ? index + 1
      : key === 'ArrowLeft' || key === 'ArrowUp' ? index - 1
      : key === 'Home' ? 0 : key === 'End' ? radios.length - 1 : null;
    if (next === null) return; // Enter and Space click the button: that answers
    event.preventDefault();
    choose((next + radios.length) % radios.length, true);
  });

  let scored = false;
  group.addEventListener('click', (event) => {
    // The picture or its name inside the button may be the target.
    const index = radios.indexOf(/** @type {HTMLButtonElement} */ (/** @type {Element} */ (event.target).closest('.radio')));
    if (index < 0 || scored) return;
    scored = true;
    const score = low + index;
    choose(index, false);
    events.score(score);
    const texts = survey.follow_up && (survey.follow_up[segment(survey.kind, score)] || survey.follow_up.default);
    const follow = pickText(texts, locale);
    group.remove();
    if (ends) ends.remove();
    hint.remove();
    later.remove();
    if (follow) askComment(follow);
    else thank('');
  });

  /** @param {[string, string]} follow */
  const askComment = ([text, lang]) => {
    title.hidden = true;
    const form = el('form', 'follow');
    const label = el('label', '', text);
    label.htmlFor = 'cxloop-c';
    label.lang = lang;
    label.id = 'cxloop-fq';
    panel.setAttribute('aria-labelledby', 'cxloop-fq');
    const area = el('textarea');
    area.id = 'cxloop-c';
    area.rows = 3;
    area.maxLength = 2000;
    area.placeholder = strings.comment;
    const submit = el('button', 'submit', strings.submit);
    submit.type = 'submit';
    const row = el('div', 'actions');
    row.append(submit);
    form.append(label, area, row);
    actions.replaceWith(form);
    let composing = false;
    area.addEventListener('compositionstart', () => { composing = true; });
    area.addEventListener('compositionend', () => { composing = false; });
    area.addEventListener('keydown', (event) => {
      // keyCode 229: the key went to the input method (Safari sends the committing Enter so, after compositionend).
      if (event.key !== 'Enter' || event.shiftKey || event.isComposing || event.keyCode === 229 || composing) return;
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : thank(area.value);
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      thank(area.value);
    });
    area.focus();
  };

  let thanked = false;
  /** @param {string} comment */
  const thank = (comment) => {
    if (thanked) return;
    thanked = true;
    events.complete(comment.trim());
    const form = panel.querySelector('form');
    if (form) form.remove();
    actions.remove();
    title.hidden = true;
    status.textContent = strings.thanks;
    panel.setAttribute('aria-labelledby', 'cxloop-q');
    close.focus();
    win.setTimeout(() => finish('done'), THANKS_MS);
  };

  /** The element that had focus when the widget opened. */
  const before = /** @type {HTMLElement | null} */ (doc.activeElement);
  // A popover does not take the focus from someone typing in the app; an inline survey is part of
  // the page and is reached with Tab like the rest of it.
  const typing = !!before && (before.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(before.tagName));
  const movedFocus = placement === 'modal' || (placement === 'popover' && !typing);
  /**
   * Where the person was: for a popover or modal, what had focus when it opened (it interrupted
   * them there); else the page control the focus came from when it entered the widget.
   * @type {Element | null}
   */
  let origin = placement === 'inline' ? null : before;
  root.addEventListener('focusin', (event) => {
    const from = /** @type {FocusEvent} */ (event).relatedTarget;
    if (from instanceof win.Element && from !== host && !root.contains(from) && !usable(origin)) origin = from;
  });

  /** The page's own elements made inert behind a modal (not those that already were). */
  /** @type {HTMLElement[]} */
  const inerted = [];
  const onPage = { keydown: onPageKey, focusin: onPageFocus };
  let open = true;
  /** @param {CloseReason} reason */
  const finish = (reason) => {
    if (!open) return;
    open = false;
    // Only when the widget holds the focus (or nothing does) is it given back: a person who has
    // moved on keeps their place.
    const active = doc.activeElement;
    const target = root.activeElement || !active || active === doc.body || active === doc.documentElement ? focusBack() : null;
    for (const [type, listener] of Object.entries(onPage)) doc.removeEventListener(type, /** @type {EventListener} */ (listener), true);
    inerted.forEach((e) => { e.inert = false; });
    host.remove();
    events.closed(reason);
    if (target) /** @type {HTMLElement} */ (target).focus({ preventScroll: true });
  };

  /** @param {Element | null | undefined} e @returns {e is HTMLElement} */
  function usable(e) {
    return !!e && e.isConnected && e !== doc.body && !host.contains(e) && typeof (/** @type {HTMLElement} */ (e).focus) === 'function' &&
      !(/** @type {HTMLButtonElement} */ (e).disabled) && e.getClientRects().length > 0;
  }
  /**
   * Where the focus goes when the widget closes holding it: where the person was, else the nearest
   * sensible control — after an inline survey the next control on the page (else the one before);
   * after a popover or modal the first control in view.
   */
  function focusBack() {
    if (usable(origin)) return origin;
    const controls = Array.from(doc.querySelectorAll('a[href],button,input,select,textarea,[tabindex],[contenteditable]'))
      .filter((e) => usable(e) && /** @type {HTMLElement} */ (e).tabIndex >= 0);
    if (placement === 'inline') {
      const next = controls.find((e) => host.compareDocumentPosition(e) & 4); // DOCUMENT_POSITION_FOLLOWING
      return next || controls.filter((e) => host.compareDocumentPosition(e) & 2).pop() || null;
    }
    return controls.find((e) => {
      const r = e.getBoundingClientRect();
      return r.bottom > 0 && r.top < win.innerHeight && r.right > 0 && r.left < win.innerWidth;
    }) || null;
  }

  /** Esc on the page puts a popover away, unless the page used that Esc itself. */
  /** @param {KeyboardEvent} event */
  function onPageKey(event) {
    if (event.key === 'Escape' && !event.isComposing && !host.contains(/** @type {Node} */ (event.target))) {
      // Let the page's own handlers (bubbling after this capture listener) have their say first.
      win.setTimeout(() => { if (!event.defaultPrevented) finish('escape'); });
    }
  }
  /** A page control taking the focus is never hidden by the popover: the popover changes edge. */
  /** @param {FocusEvent} event */
  function onPageFocus(event) {
    const target = /** @type {Element} */ (event.target);
    if (target === host) return;
    const move = () => {
      if (!open || doc.activeElement !== target) return;
      const covered = () => overlap(target.getBoundingClientRect(), panel.getBoundingClientRect());
      const now = covered();
      if (!now) return;
      panel.classList.toggle('top');
      if (covered() > now) panel.classList.toggle('top');
    };
    move();
    // After the browser has scrolled the control into view.
    win.requestAnimationFrame(move);
  }

  close.addEventListener('click', () => finish(thanked ? 'done' : 'close'));
  later.addEventListener('click', () => finish('snooze'));
  if (backdrop) backdrop.addEventListener('click', () => finish('close'));
  root.addEventListener('keydown', (event) => {
    const e = /** @type {KeyboardEvent} */ (event);
    if (e.key === 'Escape' && !e.isComposing) {
      e.preventDefault();
      e.stopPropagation();
      finish(thanked ? 'done' : 'escape');
    } else if (e.key === 'Tab' && placement === 'modal') {
      trapTab(root, panel, e);
    }
  });

  parent.appendChild(host);
  if (placement === 'modal') {
    for (const e of Array.from(doc.body.children)) {
      const page = /** @type {HTMLElement} */ (e);
      if (page !== host && !page.inert) {
        page.inert = true;
        inerted.push(page);
      }
    }
  }
  if (placement === 'popover') for (const [type, listener] of Object.entries(onPage)) doc.addEventListener(type, /** @type {EventListener} */ (listener), true);
  if (movedFocus) panel.focus({ preventScroll: true });

  return { close: finish };
}

/**
 * The area two boxes share.
 * @param {DOMRect} a
 * @param {DOMRect} b
 */
function overlap(a, b) {
  return Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) * Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
}

/**
 * Keeps Tab and Shift+Tab inside a modal.
 * @param {ShadowRoot} root
 * @param {HTMLElement} panel
 * @param {KeyboardEvent} event
 */
function trapTab(root, panel, event) {
  const focusable = /** @type {HTMLElement[]} */ (Array.from(panel.querySelectorAll('button,textarea'))).filter((e) => e.tabIndex >= 0 && !e.hidden);
  if (!focusable.length) return;
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  const active = root.activeElement;
  if (event.shiftKey ? active === first || active === panel : active === last) {
    event.preventDefault();
    (event.shiftKey ? last : first).focus();
  }
}

/**
 * @param {Window & typeof globalThis} win
 * @param {ShadowRoot} root
 * @param {string | undefined} nonce
 */
function adoptStyles(win, root, nonce) {
  try {
    let sheet = sheets.get(win);
    if (!sheet) {
      sheet = new win.CSSStyleSheet();
      sheet.replaceSync(CSS);
      sheets.set(win, sheet);
    }
    root.adoptedStyleSheets = [sheet];
  } catch (e) {
    // No constructable stylesheets (Safari before 16.4): a <style> element, with the nonce.
    const style = win.document.createElement('style');
    if (nonce) style.nonce = nonce;
    style.textContent = CSS;
    root.append(style);
  }
}
