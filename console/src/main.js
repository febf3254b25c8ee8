// The console: session → layout (header, navigation, main) → the page the URL names.
// Routes are paths under /console/; a page's filters live in the query string, so every view has
// a URL that can be shared and reloaded.
import { api, configure, ApiError } from './api.js';
import { h, replace } from './dom.js';
import { t, setLocale, pickLocale, LOCALES, LOCALE_NAMES, locale } from './i18n.js';
import { fmt } from './format.js';
import { failure, loading } from './components/ui.js';
import './messages.js';
import signIn from './pages/signin.js';
import reset from './pages/reset.js';

export const BASE = '/console';

// The chosen project and language, kept in the browser when it allows storage (a browser that
// blocks it still gets a working console: the choice then lasts until the page is reloaded).
const memory = new Map();
function remembered(/** @type {string} */ key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return memory.get(key) ?? null;
  }
}
function remember(/** @type {string} */ key, /** @type {string} */ value) {
  memory.set(key, value);
  try {
    localStorage.setItem(key, value);
  } catch { /* storage blocked: kept in memory only */ }
}

/**
 * What a page's render function is given.
 * @typedef {{
 *   root: HTMLElement, params: Record<string, string>, query: URLSearchParams, api: typeof api,
 *   session: any, project: { id: string, name: string, role: string, permissions: string[] },
 *   can: (permission: string) => boolean, navigate: (path: string, o?: { replace?: boolean }) => void,
 *   setQuery: (values: Record<string, any>, o?: { render?: boolean }) => void,
 *   signal: AbortSignal, ready: () => void, announce: (message: string) => void,
 *   title: (text: string) => void, locale: string, nonce: string,
 * }} PageContext
 */

/** [pattern, the page's module (loaded on first use: each page is its own chunk), nav key]: the
 * first match wins; `:name` captures one segment. A page registers its texts when it loads. */
/** @typedef {() => Promise<{ default: (ctx: PageContext) => any }>} PageModule */
const portfolio = /** @type {PageModule} */ (() => import('./pages/portfolio.js'));
const accounts = /** @type {PageModule} */ (() => import('./pages/accounts.js'));
const account = /** @type {PageModule} */ (() => import('./pages/account.js'));
const feedback = /** @type {PageModule} */ (() => import('./pages/feedback.js'));
const alerts = /** @type {PageModule} */ (() => import('./pages/alerts.js'));
const surveys = /** @type {PageModule} */ (() => import('./pages/surveys.js'));
const settings = /** @type {PageModule} */ (() => import('./pages/settings.js'));
const ROUTES = /** @type {[string, PageModule, string][]} */ ([
  ['/', portfolio, 'portfolio'],
  ['/accounts', accounts, 'accounts'],
  ['/accounts/:id', account, 'accounts'],
  ['/feedback', feedback, 'feedback'],
  ['/alerts', alerts, 'alerts'],
  ['/surveys', surveys, 'surveys'],
  ['/surveys/:id', surveys, 'surveys'],
  ['/settings', settings, 'settings'],
  ['/settings/:tab', settings, 'settings'],
]);
const NAV = [['portfolio', '/'], ['accounts', '/accounts'], ['feedback', '/feedback'], ['alerts', '/alerts'], ['surveys', '/surveys'], ['settings', '/settings']];

const app = /** @type {HTMLElement} */ (document.getElementById('app'));
const nonce = /** @type {HTMLScriptElement|null} */ (document.querySelector('script[nonce]'))?.nonce || '';
const state = { session: /** @type {any} */ (null), project: /** @type {any} */ (null), controller: new AbortController() };

function match(/** @type {string} */ path) {
  const parts = path.split('/').filter(Boolean);
  for (const [pattern, page, nav] of ROUTES) {
    const want = pattern.split('/').filter(Boolean);
    if (want.length !== parts.length) continue;
    /** @type {Record<string, string>} */
    const params = {};
    if (want.every((w, i) => (w.startsWith(':') ? ((params[w.slice(1)] = decodeURIComponent(parts[i])), true) : w === parts[i]))) return { page, nav, params };
  }
  return null;
}

const routePath = () => location.pathname.slice(BASE.length) || '/';

export function navigate(/** @type {string} */ path, { replace: replacing = false } = {}) {
  const url = path.startsWith(BASE) ? path : BASE + (path === '/' ? '/' : path);
  history[replacing ? 'replaceState' : 'pushState'](null, '', url);
  render();
}

function announce(/** @type {string} */ message) {
  const live = document.getElementById('live');
  if (live) {
    live.textContent = '';
    setTimeout(() => (live.textContent = message), 30);
  }
}

function chooseProject(/** @type {any} */ session) {
  const saved = remembered('cxloop.project');
  return session.projects.find((/** @type {any} */ p) => p.id === saved) || session.projects[0] || null;
}

async function loadSession() {
  try {
    state.session = await api.get('/v1/session');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) state.session = null;
    else throw error;
  }
  state.project = state.session ? chooseProject(state.session) : null;
  configure({ project: state.project?.id || '', csrf: state.session?.csrf_token || '' });
}

function header() {
  const session = state.session;
  const projectPicker = session && session.projects.length > 1
    ? h('label', { class: 'picker' }, h('span', { class: 'sr-only' }, t('app.project')),
      h('select', { onchange: (/** @type {Event} */ e) => { remember('cxloop.project', /** @type {HTMLSelectElement} */ (e.target).value); state.project = chooseProject(session); configure({ project: state.project.id }); render(); } },
        session.projects.map((/** @type {any} */ p) => h('option', { value: p.id, selected: p.id === state.project?.id }, p.name))))
    : state.project ? h('span', { class: 'project-name' }, state.project.name) : null;
  const languages = h('label', { class: 'picker' }, h('span', { class: 'sr-only' }, t('app.language')),
    h('select', { id: 'language', onchange: (/** @type {Event} */ e) => { const value = /** @type {any} */ (e.target).value; remember('cxloop.locale', value); setLocale(value); render(); } },
      LOCALES.map((l) => h('option', { value: l, lang: l, selected: l === locale() }, LOCALE_NAMES[l]))));
  return h('header', { class: 'top' },
    h('a', { class: 'brand', href: `${BASE}/`, 'data-link': '' }, 'cxloop'),
    projectPicker,
    h('div', { class: 'spacer' }),
    languages,
    session ? h('span', { class: 'who' }, session.user.name || session.user.email, ' · ', t(`role.${state.project?.role || 'viewer'}`)) : null,
    session ? h('button', { type: 'button', class: 'link', onclick: signOut }, t('app.signOut')) : null);
}

async function signOut() {
  try {
    await api.del('/v1/session');
  } finally {
    state.session = null;
    navigate('/sign-in', { replace: true });
  }
}

function nav(/** @type {string} */ current) {
  return h('nav', { class: 'side', 'aria-label': t('app.nav') },
    h('ul', null, NAV.map(([key, path]) => h('li', null, h('a', { href: BASE + (path === '/' ? '/' : path), 'data-link': '', 'aria-current': key === current ? 'page' : null }, t(`nav.${key}`))))));
}

async function render() {
  state.controller.abort();
  const controller = (state.controller = new AbortController());
  document.body.removeAttribute('data-ready');
  const path = routePath();
  const query = new URLSearchParams(location.search);
  if (path === '/reset') return showStandalone(reset, query);
  // The survey preview: framed by the Surveys page, which posts it the definition to show.
  if (path === '/preview') return (await import('./pages/preview.js')).default({ root: app, query, nonce, ready, locale: locale() });
  if (!state.session || path === '/sign-in') {
    if (state.session && path === '/sign-in') return navigate(query.get('next') || '/', { replace: true });
    return showStandalone(signIn, query);
  }
  const route = match(path);
  const main = h('main', { id: 'main', tabindex: '-1' });
  replace(app, h('a', { class: 'skip', href: '#main' }, t('app.skip')), header(), h('div', { class: 'body' }, nav(route?.nav || ''), main), h('div', { id: 'live', class: 'sr-only', 'aria-live': 'polite' }));
  if (!state.project) {
    replace(main, h('h1', null, t('app.noProject')), h('p', null, t('app.noProjectHelp')));
    return ready();
  }
  if (!route) {
    replace(main, h('h1', null, t('app.notFound')), h('p', null, h('a', { href: `${BASE}/`, 'data-link': '' }, t('nav.portfolio'))));
    return ready();
  }
  main.append(loading());
  /** @type {PageContext} */
  const ctx = {
    root: main,
    params: route.params,
    query,
    api,
    session: state.session,
    project: state.project,
    can: (permission) => state.project.permissions.includes(permission),
    navigate,
    setQuery(values, { render: rerender = false } = {}) {
      const next = new URLSearchParams(location.search);
      for (const [key, value] of Object.entries(values)) {
        next.delete(key);
        for (const item of Array.isArray(value) ? value : [value]) if (item !== undefined && item !== null && item !== '') next.append(key, String(item));
      }
      const search = next.toString();
      history.replaceState(null, '', location.pathname + (search ? `?${search}` : ''));
      if (rerender) render();
    },
    signal: controller.signal,
    ready,
    announce,
    title: (text) => (document.title = `${text} · cxloop`),
    locale: locale(),
    nonce,
  };
  try {
    const page = (await route.page()).default;
    if (controller.signal.aborted) return;
    await page(ctx);
  } catch (error) {
    if (controller.signal.aborted) return;
    replace(main, failure(error, () => render()));
    ready();
  }
}

async function showStandalone(/** @type {(ctx: any) => any} */ page, /** @type {URLSearchParams} */ query) {
  const main = h('main', { id: 'main', class: 'standalone', tabindex: '-1' });
  replace(app, h('a', { class: 'skip', href: '#main' }, t('app.skip')), h('header', { class: 'top' }, h('span', { class: 'brand' }, 'cxloop'), h('div', { class: 'spacer' }), header().querySelector('label.picker:last-of-type') || ''), main, h('div', { id: 'live', class: 'sr-only', 'aria-live': 'polite' }));
  await page({ root: main, query, api, navigate, announce, ready, locale: locale(), title: (/** @type {string} */ text) => (document.title = `${text} · cxloop`), onSignedIn: async () => { await loadSession(); navigate(query.get('next') || '/', { replace: true }); } });
}

/** The page shows its data: a performance mark (measured by bench/console.mjs) and a DOM flag for tests. */
function ready() {
  performance.mark('cx:ready');
  document.body.setAttribute('data-ready', routePath());
}

document.addEventListener('click', (event) => {
  const target = /** @type {HTMLElement} */ (event.target);
  const link = target.closest && /** @type {HTMLAnchorElement|null} */ (target.closest('a[data-link]'));
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.pathname + link.search);
  /** @type {HTMLElement|null} */ (document.getElementById('main'))?.focus();
});
window.addEventListener('popstate', () => render());
configure({ onUnauthorized: () => { state.session = null; navigate(`/sign-in?next=${encodeURIComponent(routePath() + location.search)}`, { replace: true }); } });

setLocale(/** @type {any} */ (remembered('cxloop.locale')) || pickLocale(navigator.languages || [navigator.language]));
loadSession().then(render, (error) => replace(app, failure(error, () => location.reload())));
export { fmt };
