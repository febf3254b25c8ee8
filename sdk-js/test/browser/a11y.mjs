// Measured WCAG 2.2 checks for browser tests: what axe-core cannot see, measured on the rendered page.
// Written for the rating widget and meant for every page cxloop serves (the console too): each check
// takes a Playwright page and looks through open shadow roots.
//
//   axe(page)                      axe-core's WCAG 2.0–2.2 A/AA rules; returns the violations
//   targetSizes(page, scope)       2.5.8 Target Size (Minimum): boxes of every control, and the ones failing
//   borderContrasts(page, scope)   1.4.11 Non-text Contrast: each control's border against what is behind it
//   focusedCover(page, cover)      2.4.11 Focus Not Obscured: how much of the focused element a box covers
//   contrast(a, b)                 the WCAG contrast ratio of two CSS rgb() colours
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** @typedef {import('playwright-core').Page} Page */
/** @typedef {{ x: number, y: number, width: number, height: number }} Box */

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core on the page (open shadow roots included) with the WCAG A and AA tags up to 2.2.
 * @param {Page} page
 * @returns {Promise<{ id: string, impact: string, nodes: string[] }[]>}
 */
export async function axe(page) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const result = await /** @type {any} */ (window).axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
    });
    return result.violations.map((/** @type {any} */ v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((/** @type {any} */ n) => n.target.join(' ')) }));
  });
}

/** The relative luminance of an `rgb()`/`rgba()` colour. */
function luminance(/** @type {string} */ color) {
  const [r, g, b] = (color.match(/[\d.]+/g) || []).slice(0, 3).map(Number).map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** The WCAG contrast ratio of two CSS colours as getComputedStyle gives them. */
export function contrast(/** @type {string} */ a, /** @type {string} */ b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/**
 * Every control under `scope` (a selector of a shadow host, or the document when omitted): its box,
 * and whether it passes 2.5.8 — at least 24×24 CSS px, or, when smaller, a 24 px circle centred on
 * it that meets no other control and no other small control's circle.
 * @param {Page} page
 * @param {string} [scope]
 * @returns {Promise<{ targets: { name: string, box: Box }[], failing: string[] }>}
 */
export function targetSizes(page, scope) {
  return page.evaluate((scope) => {
    const host = scope ? document.querySelector(scope) : null;
    /** @type {ParentNode} */
    const root = host && host.shadowRoot ? host.shadowRoot : document;
    const controls = Array.from(root.querySelectorAll('button, a[href], input, select, textarea, [role=radio], [role=button], [tabindex]'))
      .filter((e) => e.getClientRects().length > 0 && !(/** @type {HTMLElement} */ (e).hidden));
    const targets = controls.map((e) => {
      const r = e.getBoundingClientRect();
      const name = (e.getAttribute('aria-label') || e.textContent || e.tagName).trim().slice(0, 30);
      return { name, box: { x: r.x, y: r.y, width: r.width, height: r.height } };
    });
    const small = (/** @type {{ box: DOMRectReadOnly | {x:number,y:number,width:number,height:number} }} */ t) => t.box.width < 24 - 1e-6 || t.box.height < 24 - 1e-6;
    const centre = (/** @type {{x:number,y:number,width:number,height:number}} */ b) => [b.x + b.width / 2, b.y + b.height / 2];
    /** distance from a point to a box */
    const distance = (/** @type {number[]} */ [px, py], /** @type {{x:number,y:number,width:number,height:number}} */ b) =>
      Math.hypot(Math.max(b.x - px, 0, px - (b.x + b.width)), Math.max(b.y - py, 0, py - (b.y + b.height)));
    const failing = targets.filter((t) => small(t) && targets.some((o) => o !== t && (
      distance(centre(t.box), o.box) < 12 || (small(o) && Math.hypot(centre(t.box)[0] - centre(o.box)[0], centre(t.box)[1] - centre(o.box)[1]) < 24))))
      .map((t) => `${t.name} ${t.box.width.toFixed(1)}×${t.box.height.toFixed(1)}`);
    return { targets, failing };
  }, scope);
}

/**
 * The border colour of each element matching `selector` under the shadow host `scope`, and the
 * background behind it (its own, else the nearest ancestor's that is not transparent).
 * @param {Page} page
 * @param {string} scope
 * @param {string} selector
 * @returns {Promise<{ name: string, border: string, background: string, width: number }[]>}
 */
export function borders(page, scope, selector) {
  return page.evaluate(([scope, selector]) => {
    const host = /** @type {Element} */ (document.querySelector(scope));
    const root = /** @type {ShadowRoot} */ (host.shadowRoot);
    const opaque = (/** @type {string} */ c) => c !== 'transparent' && !/rgba\(.*,\s*0\)$/.test(c);
    /** The background behind `e`'s border: its parent's, up through the shadow host. */
    const behind = (/** @type {Element} */ e) => {
      for (let n = /** @type {Element | null} */ (e.parentElement || /** @type {ShadowRoot} */ (e.parentNode).host); n; n = n.parentElement || (n.parentNode instanceof ShadowRoot ? n.parentNode.host : null)) {
        const bg = getComputedStyle(n).backgroundColor;
        if (opaque(bg)) return bg;
      }
      return 'rgb(255, 255, 255)';
    };
    return Array.from(root.querySelectorAll(selector)).map((e) => {
      const style = getComputedStyle(e);
      return { name: (e.getAttribute('aria-label') || e.textContent || e.tagName).trim().slice(0, 20), border: style.borderTopColor, background: behind(e), width: parseFloat(style.borderTopWidth) };
    });
  }, [scope, selector]);
}

/**
 * The share (0–1) of the focused element's box (the page's focused element, outside any shadow
 * root) that the box of `cover` (a selector inside the shadow host `scope`) hides, and the focused
 * element's id.
 * @param {Page} page
 * @param {string} scope
 * @param {string} cover
 * @returns {Promise<{ id: string, hidden: number }>}
 */
export function focusedCover(page, scope, cover) {
  return page.evaluate(([scope, cover]) => {
    const active = /** @type {Element} */ (document.activeElement);
    const a = active.getBoundingClientRect();
    const root = /** @type {ShadowRoot | null | undefined} */ (document.querySelector(scope)?.shadowRoot);
    const panel = root && root.querySelector(cover);
    if (!panel || !a.width || !a.height) return { id: active.id || active.tagName, hidden: 0 };
    // Only what is inside the viewport can be seen at all.
    const clip = { left: Math.max(a.left, 0), top: Math.max(a.top, 0), right: Math.min(a.right, innerWidth), bottom: Math.min(a.bottom, innerHeight) };
    const area = Math.max(0, clip.right - clip.left) * Math.max(0, clip.bottom - clip.top);
    if (!area) return { id: active.id || active.tagName, hidden: 1 };
    const p = panel.getBoundingClientRect();
    const overlap = Math.max(0, Math.min(clip.right, p.right) - Math.max(clip.left, p.left)) * Math.max(0, Math.min(clip.bottom, p.bottom) - Math.max(clip.top, p.top));
    return { id: active.id || active.tagName, hidden: overlap / area };
  }, [scope, cover]);
}
