// DOM building without HTML strings: every text a customer, a trait or the API supplies becomes a
// text node, so nothing it contains is ever parsed as markup (no innerHTML anywhere in the console).

/**
 * h('button', { class: 'primary', onclick: fn, 'aria-label': 'Close' }, 'text', otherNode)
 * Attributes: `class`, `for`, `aria-*`, `data-*` and any other attribute are set as attributes;
 * `on<event>` functions are listeners; `value`, `checked`, `selected`, `disabled`, `hidden` set
 * the property. `style` is refused (the CSP forbids inline styles; use classes or el.style.x).
 * Children: strings and numbers become text nodes; null/undefined/false are skipped; arrays flatten.
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
      else if (name === 'style') throw new Error('h(): no inline style attributes under the console CSP');
      else if (name === 'value' || name === 'checked' || name === 'selected' || name === 'disabled' || name === 'hidden') /** @type {any} */ (el)[name] = value;
      else el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends children (strings as text nodes, arrays flattened, empty values skipped). */
export function append(/** @type {Element} */ el, /** @type {any[]} */ children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces an element's children. */
export function replace(/** @type {Element} */ el, /** @type {any[]} */ ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A text only screen readers read. */
export const srOnly = (/** @type {string} */ text) => h('span', { class: 'sr-only' }, text);

let ids = 0;
/** A unique element id with a readable prefix. */
export const uid = (prefix = 'cx') => `${prefix}-${++ids}`;
