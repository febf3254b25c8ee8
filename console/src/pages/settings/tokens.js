// Settings → API tokens: one's own personal tokens (GET/POST/DELETE /v1/tokens): name, scopes
// (the permissions one's role has, plus the `read` and `admin` shorthands the role covers),
// expiry; a new token is shown once.
import { h, replace } from '../../dom.js';
import { t, addMessages } from '../../i18n.js';
import { fmt } from '../../format.js';
import { guarded, field, select } from '../../components/ui.js';
import { oneTime, confirmDialog, status } from './common.js';

addMessages({
  en: {
    'settings.tokens.title': 'Your API tokens', 'settings.tokens.help': 'A token acts as you, limited to its scopes and your current role (docs/access.md). Use it as Authorization: Bearer cxp_…',
    'settings.tokens.none': 'You have no API tokens.', 'settings.tokens.name': 'Name', 'settings.tokens.prefix': 'Prefix', 'settings.tokens.scopes': 'Scopes',
    'settings.tokens.created': 'Created', 'settings.tokens.expires': 'Expires', 'settings.tokens.lastUsed': 'Last used', 'settings.tokens.revoke': 'Revoke',
    'settings.tokens.new': 'Make a token', 'settings.tokens.nameHint': 'What it is for, e.g. “BI export”.', 'settings.tokens.expiry': 'Expires after',
    'settings.tokens.days': { one: '{count} day', other: '{count} days' }, 'settings.tokens.noExpiry': 'Never (not recommended)',
    'settings.tokens.create': 'Make token', 'settings.tokens.pickScope': 'Choose at least one scope.', 'settings.tokens.newToken': 'Your new token “{name}”',
    'settings.tokens.scope.read': 'read — everything a viewer may read', 'settings.tokens.scope.admin': 'admin — everything an admin may do',
    'settings.tokens.confirmRevoke': 'Revoke the token “{name}”?', 'settings.tokens.confirmRevokeBody': 'Anything using {prefix}… is refused from now on. This cannot be undone.',
    'settings.tokens.revoked': 'Token revoked.',
  },
  'zh-CN': {
    'settings.tokens.title': '我的 API 令牌', 'settings.tokens.help': '令牌以您的身份操作，权限受其范围和您当前角色的限制（docs/access.md）。用法：Authorization: Bearer cxp_…',
    'settings.tokens.none': '您还没有 API 令牌。', 'settings.tokens.name': '名称', 'settings.tokens.prefix': '前缀', 'settings.tokens.scopes': '范围',
    'settings.tokens.created': '创建时间', 'settings.tokens.expires': '过期时间', 'settings.tokens.lastUsed': '最近使用', 'settings.tokens.revoke': '吊销',
    'settings.tokens.new': '创建令牌', 'settings.tokens.nameHint': '用途，例如“BI 导出”。', 'settings.tokens.expiry': '有效期',
    'settings.tokens.days': { one: '{count} 天', other: '{count} 天' }, 'settings.tokens.noExpiry': '永不过期（不建议）',
    'settings.tokens.create': '创建', 'settings.tokens.pickScope': '请至少选择一个范围。', 'settings.tokens.newToken': '新令牌“{name}”',
    'settings.tokens.scope.read': 'read — 只读成员可读取的全部内容', 'settings.tokens.scope.admin': 'admin — 管理员可执行的全部操作',
    'settings.tokens.confirmRevoke': '吊销令牌“{name}”？', 'settings.tokens.confirmRevokeBody': '从现在起，使用 {prefix}… 的请求都会被拒绝。此操作无法撤销。',
    'settings.tokens.revoked': '令牌已吊销。',
  },
  'zh-TW': {
    'settings.tokens.title': '我的 API 權杖', 'settings.tokens.help': '權杖以您的身分操作，權限受其範圍和您目前角色的限制（docs/access.md）。用法：Authorization: Bearer cxp_…',
    'settings.tokens.none': '您還沒有 API 權杖。', 'settings.tokens.name': '名稱', 'settings.tokens.prefix': '前綴', 'settings.tokens.scopes': '範圍',
    'settings.tokens.created': '建立時間', 'settings.tokens.expires': '到期時間', 'settings.tokens.lastUsed': '最近使用', 'settings.tokens.revoke': '撤銷',
    'settings.tokens.new': '建立權杖', 'settings.tokens.nameHint': '用途，例如「BI 匯出」。', 'settings.tokens.expiry': '有效期限',
    'settings.tokens.days': { one: '{count} 天', other: '{count} 天' }, 'settings.tokens.noExpiry': '永不到期（不建議）',
    'settings.tokens.create': '建立', 'settings.tokens.pickScope': '請至少選擇一個範圍。', 'settings.tokens.newToken': '新權杖「{name}」',
    'settings.tokens.scope.read': 'read — 唯讀成員可讀取的全部內容', 'settings.tokens.scope.admin': 'admin — 管理員可執行的全部操作',
    'settings.tokens.confirmRevoke': '撤銷權杖「{name}」？', 'settings.tokens.confirmRevokeBody': '從現在起，使用 {prefix}… 的請求都會被拒絕。此操作無法復原。',
    'settings.tokens.revoked': '權杖已撤銷。',
  },
});

/** The scopes this person may give a token: the shorthands their role covers, then their permissions. */
function scopes(/** @type {import('./common.js').TabContext} */ ctx) {
  const role = ctx.project.role;
  const shorthands = role === 'owner' || role === 'admin' ? ['read', 'admin'] : ['read'];
  return [...shorthands, ...[...ctx.project.permissions].sort()];
}

/** @param {import('./common.js').TabContext} ctx */
export default async function tokens(ctx) {
  const { tokens: list } = await ctx.api.get('/v1/tokens', undefined, ctx.signal);
  const revoke = async (/** @type {any} */ token) => {
    const done = await confirmDialog({
      title: t('settings.tokens.confirmRevoke', { name: token.name }),
      body: [h('p', null, t('settings.tokens.confirmRevokeBody', { prefix: token.prefix }))],
      confirm: t('settings.tokens.revoke'), danger: true,
      onConfirm: () => ctx.api.del(`/v1/tokens/${encodeURIComponent(token.id)}`),
    });
    if (done) {
      await ctx.refresh();
      ctx.announce(t('settings.tokens.revoked'));
    }
  };
  replace(ctx.root,
    h('section', { class: 'card', 'aria-labelledby': 'tokens-title' },
      h('h2', { id: 'tokens-title' }, t('settings.tokens.title')),
      h('p', { class: 'hint' }, t('settings.tokens.help')),
      h('div', { class: 'once-slot' }),
      list.length ? h('table', { class: 'data tokens' },
        h('caption', { class: 'sr-only' }, t('settings.tokens.title')),
        h('thead', null, h('tr', null, ['name', 'prefix', 'scopes', 'created', 'expires', 'lastUsed'].map((k) => h('th', { scope: 'col' }, t(`settings.tokens.${k}`))), h('th', { scope: 'col' }, t('settings.actions')))),
        h('tbody', null, list.map((/** @type {any} */ token) => h('tr', { 'data-token': token.id },
          h('th', { scope: 'row' }, token.name),
          h('td', null, h('code', null, `${token.prefix}…`)),
          h('td', null, token.scopes.map((/** @type {string} */ s) => h('span', { class: 'badge' }, s)), ' '),
          h('td', null, fmt.dateTime(token.created_at)),
          h('td', null, token.expires_at ? fmt.dateTime(token.expires_at) : t('settings.never')),
          h('td', null, token.last_used_at ? fmt.relative(token.last_used_at) : t('settings.never')),
          h('td', null, guarded(ctx, 'tokens:own', { class: 'danger', onclick: () => revoke(token) }, t('settings.tokens.revoke'))))))) : h('p', { class: 'empty' }, t('settings.tokens.none'))),
    createForm(ctx));
}

function createForm(/** @type {import('./common.js').TabContext} */ ctx) {
  const allowed = ctx.can('tokens:own');
  const name = /** @type {HTMLInputElement} */ (h('input', { type: 'text', name: 'name', maxlength: '100', required: true, disabled: !allowed, autocomplete: 'off' }));
  const boxes = scopes(ctx).map((s) => /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', name: 'scopes', value: s, checked: s === 'read', disabled: !allowed })));
  const expiry = /** @type {HTMLSelectElement} */ (select([['30', t('settings.tokens.days', { count: 30 })], ['90', t('settings.tokens.days', { count: 90 })], ['365', t('settings.tokens.days', { count: 365 })], ['', t('settings.tokens.noExpiry')]], '90', { name: 'expires_in_days', disabled: !allowed }));
  const result = status();
  const submit = guarded(ctx, 'tokens:own', { class: 'primary' }, t('settings.tokens.create'));
  if (allowed) submit.setAttribute('type', 'submit');
  return h('form', { class: 'card settings-form', 'aria-labelledby': 'new-token', novalidate: true, onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    if (!allowed) return;
    result.clear();
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    if (!chosen.length) return result.fail(new Error(t('settings.tokens.pickScope')));
    try {
      const created = await ctx.api.post('/v1/tokens', { name: name.value.trim(), scopes: chosen, expires_in_days: expiry.value ? Number(expiry.value) : null });
      await ctx.refresh();
      const slot = ctx.root.querySelector('.once-slot');
      if (slot) {
        replace(slot, oneTime(ctx, t('settings.tokens.newToken', { name: created.info.name }), created.token));
        /** @type {HTMLElement|null} */ (slot.querySelector('button'))?.focus();
      }
    } catch (error) {
      result.fail(error);
    }
  } },
  h('h2', { id: 'new-token' }, t('settings.tokens.new')),
  field(t('settings.tokens.name'), name, { hint: t('settings.tokens.nameHint') }),
  h('fieldset', null, h('legend', null, t('settings.tokens.scopes')),
    h('div', { class: 'checks scopes' }, boxes.map((b) => h('label', { class: 'check' }, b, ' ', b.value === 'read' || b.value === 'admin' ? t(`settings.tokens.scope.${b.value}`) : h('code', null, b.value))))),
  field(t('settings.tokens.expiry'), expiry),
  result.el,
  h('div', { class: 'row' }, submit));
}
