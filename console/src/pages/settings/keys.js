// Settings → Keys: the write key, the secret key's prefix, the keys rotations retired and their
// grace; rotating either key (a confirmation with the grace period; the new key shown once) and
// revoking the retired keys of a kind now. Needs keys:read (owners and admins).
import { h, replace } from '../../dom.js';
import { t, addMessages } from '../../i18n.js';
import { fmt } from '../../format.js';
import { guarded, field } from '../../components/ui.js';
import { oneTime, confirmDialog, noAccess } from './common.js';

addMessages({
  en: {
    'settings.keys.title': 'Project keys', 'settings.keys.help': 'The write key goes in the widget and SDKs (it can only send events); the secret key reads and changes everything as an admin (docs/access.md).',
    'settings.keys.write': 'Write key', 'settings.keys.secret': 'Secret key', 'settings.keys.secretPrefix': '{prefix}… (only its prefix is kept)',
    'settings.keys.rotate': 'Rotate the {kind}', 'settings.keys.kind.write': 'write key', 'settings.keys.kind.secret': 'secret key',
    'settings.keys.retired': 'Retired keys', 'settings.keys.noRetired': 'No retired keys.', 'settings.keys.kind': 'Key', 'settings.keys.prefix': 'Prefix',
    'settings.keys.retiredAt': 'Retired', 'settings.keys.validUntil': 'Works until', 'settings.keys.state': 'State', 'settings.keys.inGrace': 'Still works (grace period)', 'settings.keys.ended': 'Refused',
    'settings.keys.revoke': 'Revoke retired {kind}s now',
    'settings.keys.confirmRotate': 'Rotate the {kind}?',
    'settings.keys.confirmRotateBody': 'A new {kind} is made and shown once. The current one keeps working for the grace period below, so you can update everything that uses it; 0 refuses it at once.',
    'settings.keys.grace': 'Grace period (hours)', 'settings.keys.graceHint': 'Empty: the server’s default. At most 720 hours (30 days).',
    'settings.keys.newKey': 'The new {kind}', 'settings.keys.rotated': 'The {kind} was rotated; the old one works until {until}.',
    'settings.keys.confirmRevoke': 'Revoke the retired {kind}s now?', 'settings.keys.confirmRevokeBody': 'Every retired {kind} still in its grace period is refused from now on (use this for a leaked key). The current key is not affected.',
    'settings.keys.revoked': '{count} retired keys revoked.',
  },
  'zh-CN': {
    'settings.keys.title': '项目密钥', 'settings.keys.help': '写入密钥用于组件和 SDK（只能发送事件）；私密密钥以管理员身份读取和修改一切（docs/access.md）。',
    'settings.keys.write': '写入密钥', 'settings.keys.secret': '私密密钥', 'settings.keys.secretPrefix': '{prefix}…（只保存前缀）',
    'settings.keys.rotate': '轮换{kind}', 'settings.keys.kind.write': '写入密钥', 'settings.keys.kind.secret': '私密密钥',
    'settings.keys.retired': '已停用的密钥', 'settings.keys.noRetired': '没有已停用的密钥。', 'settings.keys.kind': '密钥', 'settings.keys.prefix': '前缀',
    'settings.keys.retiredAt': '停用时间', 'settings.keys.validUntil': '有效期至', 'settings.keys.state': '状态', 'settings.keys.inGrace': '仍可使用（宽限期内）', 'settings.keys.ended': '已拒绝',
    'settings.keys.revoke': '立即吊销已停用的{kind}',
    'settings.keys.confirmRotate': '轮换{kind}？',
    'settings.keys.confirmRotateBody': '将生成新的{kind}并只显示一次。当前密钥在下面的宽限期内仍然有效，以便您更新所有使用它的地方；填 0 则立即拒绝。',
    'settings.keys.grace': '宽限期（小时）', 'settings.keys.graceHint': '留空：使用服务器默认值。最多 720 小时（30 天）。',
    'settings.keys.newKey': '新的{kind}', 'settings.keys.rotated': '{kind}已轮换；旧密钥有效期至 {until}。',
    'settings.keys.confirmRevoke': '立即吊销已停用的{kind}？', 'settings.keys.confirmRevokeBody': '所有仍在宽限期内的已停用{kind}将从现在起被拒绝（用于密钥泄露的情况）。当前密钥不受影响。',
    'settings.keys.revoked': '已吊销 {count} 个已停用的密钥。',
  },
  'zh-TW': {
    'settings.keys.title': '專案金鑰', 'settings.keys.help': '寫入金鑰用於元件和 SDK（只能傳送事件）；私密金鑰以管理員身分讀取和變更一切（docs/access.md）。',
    'settings.keys.write': '寫入金鑰', 'settings.keys.secret': '私密金鑰', 'settings.keys.secretPrefix': '{prefix}…（只保存前綴）',
    'settings.keys.rotate': '輪替{kind}', 'settings.keys.kind.write': '寫入金鑰', 'settings.keys.kind.secret': '私密金鑰',
    'settings.keys.retired': '已停用的金鑰', 'settings.keys.noRetired': '沒有已停用的金鑰。', 'settings.keys.kind': '金鑰', 'settings.keys.prefix': '前綴',
    'settings.keys.retiredAt': '停用時間', 'settings.keys.validUntil': '有效期限', 'settings.keys.state': '狀態', 'settings.keys.inGrace': '仍可使用（寬限期內）', 'settings.keys.ended': '已拒絕',
    'settings.keys.revoke': '立即撤銷已停用的{kind}',
    'settings.keys.confirmRotate': '輪替{kind}？',
    'settings.keys.confirmRotateBody': '將產生新的{kind}並只顯示一次。目前的金鑰在下方的寬限期內仍然有效，以便您更新所有使用它的地方；填 0 則立即拒絕。',
    'settings.keys.grace': '寬限期（小時）', 'settings.keys.graceHint': '留空：使用伺服器預設值。最多 720 小時（30 天）。',
    'settings.keys.newKey': '新的{kind}', 'settings.keys.rotated': '{kind}已輪替；舊金鑰有效期限至 {until}。',
    'settings.keys.confirmRevoke': '立即撤銷已停用的{kind}？', 'settings.keys.confirmRevokeBody': '所有仍在寬限期內的已停用{kind}將從現在起被拒絕（用於金鑰外洩的情況）。目前的金鑰不受影響。',
    'settings.keys.revoked': '已撤銷 {count} 個已停用的金鑰。',
  },
});

/** @param {import('./common.js').TabContext} ctx */
export default async function keys(ctx) {
  if (!ctx.can('keys:read')) {
    replace(ctx.root, h('section', { class: 'card' }, h('h2', null, t('settings.keys.title')), noAccess(ctx, 'keys:read')));
    return;
  }
  const data = await ctx.api.get('/v1/keys', undefined, ctx.signal);
  const slot = h('div', { class: 'once-slot' });
  const kindName = (/** @type {string} */ kind) => t(`settings.keys.kind.${kind}`);

  const rotate = async (/** @type {'write'|'secret'} */ kind) => {
    const grace = /** @type {HTMLInputElement} */ (h('input', { type: 'number', name: 'grace_hours', min: '0', max: '720', step: '1', inputmode: 'numeric' }));
    /** @type {any} */
    let rotation = null;
    const confirmed = await confirmDialog({
      title: t('settings.keys.confirmRotate', { kind: kindName(kind) }),
      body: [h('p', null, t('settings.keys.confirmRotateBody', { kind: kindName(kind) })), field(t('settings.keys.grace'), grace, { hint: t('settings.keys.graceHint') })],
      confirm: t('settings.keys.rotate', { kind: kindName(kind) }),
      danger: true,
      onConfirm: async () => {
        const hours = grace.value.trim();
        rotation = await ctx.api.post(`/v1/keys/${kind}/rotate`, { grace_seconds: hours === '' ? null : Math.round(Number(hours) * 3600) });
      },
    });
    if (!confirmed || !rotation) return;
    await ctx.refresh();
    const target = ctx.root.querySelector('.once-slot');
    if (target) {
      replace(target, oneTime(ctx, t('settings.keys.newKey', { kind: kindName(kind) }), rotation.key), h('p', { role: 'status' }, t('settings.keys.rotated', { kind: kindName(kind), until: fmt.dateTime(rotation.old_valid_until) })));
      /** @type {HTMLElement|null} */ (target.querySelector('button'))?.focus();
    }
  };

  const revoke = async (/** @type {'write'|'secret'} */ kind) => {
    /** @type {any} */
    let answer = null;
    const confirmed = await confirmDialog({
      title: t('settings.keys.confirmRevoke', { kind: kindName(kind) }),
      body: [h('p', null, t('settings.keys.confirmRevokeBody', { kind: kindName(kind) }))],
      confirm: t('settings.keys.revoke', { kind: kindName(kind) }),
      danger: true,
      onConfirm: async () => { answer = await ctx.api.post(`/v1/keys/${kind}/revoke-retired`); },
    });
    if (!confirmed) return;
    await ctx.refresh();
    ctx.announce(t('settings.keys.revoked', { count: answer?.revoked ?? 0 }));
  };

  const inGrace = (/** @type {string} */ kind) => data.retired.some((/** @type {any} */ k) => k.kind === kind && k.active);
  replace(ctx.root,
    h('section', { class: 'card', 'aria-labelledby': 'keys-title' },
      h('h2', { id: 'keys-title' }, t('settings.keys.title')),
      h('p', { class: 'hint' }, t('settings.keys.help')),
      slot,
      h('dl', { class: 'keys' },
        h('dt', null, t('settings.keys.write')), h('dd', null, h('code', { 'data-key': 'write' }, data.write_key), ' ',
          guarded(ctx, 'keys:write', { onclick: () => rotate('write') }, t('settings.keys.rotate', { kind: kindName('write') }))),
        h('dt', null, t('settings.keys.secret')), h('dd', null, h('code', { 'data-key': 'secret' }, t('settings.keys.secretPrefix', { prefix: data.secret_key_prefix })), ' ',
          guarded(ctx, 'keys:write', { class: 'danger', onclick: () => rotate('secret') }, t('settings.keys.rotate', { kind: kindName('secret') }))))),
    h('section', { class: 'card', 'aria-labelledby': 'retired-title' },
      h('h2', { id: 'retired-title' }, t('settings.keys.retired')),
      data.retired.length ? h('table', { class: 'data' },
        h('caption', { class: 'sr-only' }, t('settings.keys.retired')),
        h('thead', null, h('tr', null, ['kind', 'prefix', 'retiredAt', 'validUntil', 'state'].map((k) => h('th', { scope: 'col' }, t(`settings.keys.${k}`))))),
        h('tbody', null, data.retired.map((/** @type {any} */ k) => h('tr', null,
          h('th', { scope: 'row' }, kindName(k.kind)),
          h('td', null, h('code', null, `${k.prefix}…`)),
          h('td', null, fmt.dateTime(k.retired_at)),
          h('td', null, fmt.dateTime(k.valid_until)),
          h('td', null, k.active ? t('settings.keys.inGrace') : t('settings.keys.ended')))))) : h('p', { class: 'empty' }, t('settings.keys.noRetired')),
      h('div', { class: 'row' }, /** @type {('write'|'secret')[]} */ (['write', 'secret']).filter(inGrace).map((kind) =>
        guarded(ctx, 'keys:write', { class: 'danger', onclick: () => revoke(kind) }, t('settings.keys.revoke', { kind: kindName(kind) }))))));
}
