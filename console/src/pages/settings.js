// Settings: /console/settings/:tab — health (and insights) configuration, webhooks, keys, API
// tokens, members, privacy. The tab is in the path (links with aria-current), each tab lives in
// pages/settings/<tab>.js and re-renders itself in place after a change.
import { h, replace } from '../dom.js';
import { t, addMessages } from '../i18n.js';
import { failure } from '../components/ui.js';
import health from './settings/health.js';
import webhooks from './settings/webhooks.js';
import keys from './settings/keys.js';
import tokens from './settings/tokens.js';
import members from './settings/members.js';
import privacy from './settings/privacy.js';

addMessages({
  en: {
    'settings.tabs': 'Settings sections',
    'settings.tab.health': 'Health', 'settings.tab.webhooks': 'Webhooks', 'settings.tab.keys': 'Keys',
    'settings.tab.tokens': 'API tokens', 'settings.tab.members': 'Members', 'settings.tab.privacy': 'Privacy',
    'settings.unknownTab': 'There is no settings section “{tab}”. Pick one above.',
  },
  'zh-CN': {
    'settings.tabs': '设置分区',
    'settings.tab.health': '健康度', 'settings.tab.webhooks': 'Webhook', 'settings.tab.keys': '密钥',
    'settings.tab.tokens': 'API 令牌', 'settings.tab.members': '成员', 'settings.tab.privacy': '隐私',
    'settings.unknownTab': '没有名为“{tab}”的设置分区，请在上方选择。',
  },
  'zh-TW': {
    'settings.tabs': '設定分區',
    'settings.tab.health': '健康度', 'settings.tab.webhooks': 'Webhook', 'settings.tab.keys': '金鑰',
    'settings.tab.tokens': 'API 權杖', 'settings.tab.members': '成員', 'settings.tab.privacy': '隱私',
    'settings.unknownTab': '沒有名為「{tab}」的設定分區，請在上方選擇。',
  },
});

/** @type {Record<string, (ctx: import('./settings/common.js').TabContext) => Promise<any>>} */
const TABS = { health, webhooks, keys, tokens, members, privacy };

/** @param {import('../main.js').PageContext} ctx */
export default async function render(ctx) {
  const tab = ctx.params.tab || 'health';
  const known = tab in TABS;
  ctx.title(`${known ? t(`settings.tab.${tab}`) : t('nav.settings')} · ${t('nav.settings')}`);
  const body = h('div', { class: 'settings-tab', 'data-tab': tab });
  replace(ctx.root,
    h('h1', null, t('nav.settings')),
    h('nav', { class: 'tabs', 'aria-label': t('settings.tabs') },
      Object.keys(TABS).map((name) => h('a', { href: `/console/settings/${name}`, 'data-link': '', 'aria-current': name === tab ? 'page' : null }, t(`settings.tab.${name}`)))),
    body);
  if (!known) {
    replace(body, h('p', { class: 'notice' }, t('settings.unknownTab', { tab })));
    ctx.ready();
    return;
  }
  /** @type {import('./settings/common.js').TabContext} */
  const tabCtx = {
    ...ctx,
    root: body,
    async refresh() {
      document.body.removeAttribute('data-ready');
      try {
        await TABS[tab](tabCtx);
      } catch (error) {
        if (ctx.signal.aborted) return;
        replace(body, failure(error, () => tabCtx.refresh()));
      }
      ctx.ready();
    },
  };
  await TABS[tab](tabCtx);
  ctx.ready();
}
