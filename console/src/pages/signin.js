// Sign-in: email and password → POST /v1/session (the server sets the HttpOnly cookie).
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { field } from '../components/ui.js';

/** @param {any} ctx */
export default async function signIn(ctx) {
  ctx.title(t('signin.title'));
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const message = h('p', { class: 'field-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, t('signin.submit'));
  const form = h('form', { class: 'card narrow', novalidate: true, onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    message.textContent = '';
    submit.disabled = true;
    submit.textContent = t('signin.busy');
    try {
      await ctx.api.post('/v1/session', { email: /** @type {HTMLInputElement} */ (email).value, password: /** @type {HTMLInputElement} */ (password).value });
      await ctx.onSignedIn();
    } catch (error) {
      message.textContent = /** @type {any} */ (error).message;
      submit.disabled = false;
      submit.textContent = t('signin.submit');
      /** @type {HTMLInputElement} */ (password).focus();
    }
  } },
  h('h1', null, t('signin.title')),
  field(t('signin.email'), email),
  field(t('signin.password'), password),
  message,
  submit,
  h('p', { class: 'hint' }, t('signin.help')));
  replace(ctx.root, form);
  email.focus();
  ctx.ready();
}
