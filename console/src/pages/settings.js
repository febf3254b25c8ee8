// Placeholder: a helper builds this page (see /tmp/brief17).
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';

/** @param {import('../main.js').PageContext} ctx */
export default async function render(ctx) {
  ctx.title(t('nav.settings'));
  replace(ctx.root, h('h1', null, t('nav.settings')));
  ctx.ready();
}
