// A one-time password reset link: /console/reset#<token> (printed by `cxloop users reset-password`).
// The token stays in the fragment, so it never reaches a server log or a Referer.
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { field } from '../components/ui.js';

/** @param {any} ctx */
export default async function reset(ctx) {
  ctx.title(t('reset.title'));
  const token = location.hash.slice(1);
  if (!token) {
    replace(ctx.root, h('div', { class: 'card narrow' }, h('h1', null, t('reset.title')), h('p', { role: 'alert' }, t('reset.missing'))));
    return ctx.ready();
  }
  const password = h('input', { type: 'password', autocomplete: 'new-password', required: true });
  const message = h('p', { class: 'field-error', role: 'alert' });
  const form = h('form', { class: 'card narrow', onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    message.textContent = '';
    try {
      await ctx.api.post(`/v1/password-resets/${encodeURIComponent(token)}`, { password: /** @type {HTMLInputElement} */ (password).value });
      history.replaceState(null, '', location.pathname);
      replace(ctx.root, h('div', { class: 'card narrow' }, h('h1', null, t('reset.title')), h('p', { role: 'status' }, t('reset.done')), h('a', { href: '/console/sign-in', 'data-link': '' }, t('reset.signIn'))));
    } catch (error) {
      message.textContent = /** @type {any} */ (error).message;
    }
  } }, h('h1', null, t('reset.title')), field(t('reset.password'), password), message, h('button', { type: 'submit', class: 'primary' }, t('reset.submit')));
  replace(ctx.root, form);
  password.focus();
  ctx.ready();
}
