/** Automatic page views in single-page apps: history API changes, back/forward and hash routes. */

/**
 * What identifies a page view: path and query, plus the hash when it is a route (`#/…`, `#!…`)
 * rather than an in-page anchor.
 * @param {{ pathname: string, search: string, hash: string }} location
 */
export function routeKey(location) {
  const hash = location.hash;
  return location.pathname + location.search + (/^#[!/]/.test(hash) ? hash : '');
}

/**
 * Calls `onChange` around every pushState/replaceState (before, so that a page view still due for
 * the old URL goes first, and after) and on popstate/hashchange. The caller decides whether the
 * route really changed. The page's own history calls behave as before, exceptions included.
 * @param {any} win
 * @param {() => void} onChange must not throw
 */
export function watchHistory(win, onChange) {
  const history = win.history;
  for (const name of ['pushState', 'replaceState']) {
    const original = history[name];
    if (typeof original === 'function') {
      history[name] = function (/** @type {unknown[]} */ ...args) {
        onChange();
        const result = original.apply(this, args);
        onChange();
        return result;
      };
    }
  }
  win.addEventListener('popstate', onChange);
  win.addEventListener('hashchange', onChange);
}
