// Settings → Members: the project's members and roles; invite (email, name, role — the API answers
// a one-time set-password link for a new person), change a role, remove. The API's refusals (the
// last-owner rule, owners:write) are shown as it words them.
import { h, replace } from '../../dom.js';
import { t, addMessages } from '../../i18n.js';
import { fmt } from '../../format.js';
import { guarded, field, select } from '../../components/ui.js';
import { oneTime, confirmDialog, status } from './common.js';

addMessages({
  en: {
    'settings.members.title': 'Members', 'settings.members.help': 'Roles: owner, admin, analyst, viewer (docs/access.md). Only an owner makes or changes owners; a project keeps at least one owner.',
    'settings.members.name': 'Name', 'settings.members.email': 'Email', 'settings.members.role': 'Role', 'settings.members.lastSignIn': 'Last sign-in', 'settings.members.since': 'Member since',
    'settings.members.roleOf': 'Role of {name}', 'settings.members.changeRole': 'Change role', 'settings.members.remove': 'Remove', 'settings.members.you': '(you)',
    'settings.members.noPassword': 'has not set a password yet',
    'settings.members.roleChanged': '{name} is now {role}.',
    'settings.members.confirmRemove': 'Remove {name} from the project?', 'settings.members.confirmRemoveBody': '{email} loses access to this project at once and their API tokens for it are revoked. Their console account stays.',
    'settings.members.removed': '{name} was removed.',
    'settings.members.invite': 'Invite a member', 'settings.members.inviteSubmit': 'Invite',
    'settings.members.inviteHint': 'A person new to cxloop gets an account; send them the one-time link below to set their password.',
    'settings.members.link': 'One-time link for {email} to set a password (expires in {hours} h)', 'settings.members.existing': '{email} already had an account and was added as {role}.',
  },
  'zh-CN': {
    'settings.members.title': '成员', 'settings.members.help': '角色：所有者、管理员、分析员、只读成员（docs/access.md）。只有所有者可以设置或更改所有者；项目至少保留一名所有者。',
    'settings.members.name': '姓名', 'settings.members.email': '邮箱', 'settings.members.role': '角色', 'settings.members.lastSignIn': '最近登录', 'settings.members.since': '加入时间',
    'settings.members.roleOf': '{name} 的角色', 'settings.members.changeRole': '更改角色', 'settings.members.remove': '移除', 'settings.members.you': '（您）',
    'settings.members.noPassword': '尚未设置密码',
    'settings.members.roleChanged': '{name} 现在是{role}。',
    'settings.members.confirmRemove': '将 {name} 移出项目？', 'settings.members.confirmRemoveBody': '{email} 将立即失去此项目的访问权限，其在此项目的 API 令牌也会被吊销。其控制台账号保留。',
    'settings.members.removed': '已移除 {name}。',
    'settings.members.invite': '邀请成员', 'settings.members.inviteSubmit': '邀请',
    'settings.members.inviteHint': '首次使用 cxloop 的人会获得一个账号；请将下面的一次性链接发给对方设置密码。',
    'settings.members.link': '{email} 设置密码的一次性链接（{hours} 小时后失效）', 'settings.members.existing': '{email} 已有账号，已以{role}身份加入。',
  },
  'zh-TW': {
    'settings.members.title': '成員', 'settings.members.help': '角色：擁有者、管理員、分析師、唯讀成員（docs/access.md）。只有擁有者可以設定或變更擁有者；專案至少保留一位擁有者。',
    'settings.members.name': '姓名', 'settings.members.email': '電子郵件', 'settings.members.role': '角色', 'settings.members.lastSignIn': '最近登入', 'settings.members.since': '加入時間',
    'settings.members.roleOf': '{name} 的角色', 'settings.members.changeRole': '變更角色', 'settings.members.remove': '移除', 'settings.members.you': '（您）',
    'settings.members.noPassword': '尚未設定密碼',
    'settings.members.roleChanged': '{name} 現在是{role}。',
    'settings.members.confirmRemove': '將 {name} 移出專案？', 'settings.members.confirmRemoveBody': '{email} 將立即失去此專案的存取權，其在此專案的 API 權杖也會被撤銷。其主控台帳號保留。',
    'settings.members.removed': '已移除 {name}。',
    'settings.members.invite': '邀請成員', 'settings.members.inviteSubmit': '邀請',
    'settings.members.inviteHint': '首次使用 cxloop 的人會取得一個帳號；請將下方的一次性連結傳給對方設定密碼。',
    'settings.members.link': '{email} 設定密碼的一次性連結（{hours} 小時後失效）', 'settings.members.existing': '{email} 已有帳號，已以{role}身分加入。',
  },
});

const ROLES = ['owner', 'admin', 'analyst', 'viewer'];
const roleOptions = () => /** @type {[string, string][]} */ (ROLES.map((r) => [r, t(`role.${r}`)]));

/** @param {import('./common.js').TabContext} ctx */
export default async function members(ctx) {
  const { members: list } = await ctx.api.get('/v1/members', undefined, ctx.signal);
  const canWrite = ctx.can('members:write');
  const message = status();
  const row = (/** @type {any} */ m) => {
    const label = m.name || m.email;
    // Making, changing or removing an owner also needs owners:write (owners only).
    const needs = m.role === 'owner' ? 'owners:write' : 'members:write';
    const role = /** @type {HTMLSelectElement} */ (select(roleOptions(), m.role, { name: 'role', 'aria-label': t('settings.members.roleOf', { name: label }), disabled: !canWrite || !ctx.can(needs) }));
    if (!ctx.can('owners:write')) for (const option of role.options) if (option.value === 'owner' && m.role !== 'owner') option.disabled = true;
    return h('tr', { 'data-member': m.email },
      h('th', { scope: 'row' }, label, m.user_id === ctx.session.user.id ? ` ${t('settings.members.you')}` : ''),
      h('td', null, m.email, m.has_password ? null : h('span', { class: 'muted' }, ` (${t('settings.members.noPassword')})`)),
      h('td', null, h('div', { class: 'row' }, role, guarded(ctx, canWrite ? needs : 'members:write', { onclick: async () => {
        message.clear();
        try {
          const changed = await ctx.api.patch(`/v1/members/${encodeURIComponent(m.user_id)}`, { role: role.value });
          await ctx.refresh();
          const note = t('settings.members.roleChanged', { name: label, role: t(`role.${changed.role}`) });
          ctx.announce(note);
          ctx.root.querySelector('.members-status')?.replaceChildren(note);
        } catch (error) {
          message.fail(error);
          role.value = m.role;
        }
      } }, t('settings.members.changeRole')))),
      h('td', null, fmt.date(m.created_at)),
      h('td', null, m.last_sign_in_at ? fmt.relative(m.last_sign_in_at) : t('settings.never')),
      h('td', null, guarded(ctx, canWrite ? needs : 'members:write', { class: 'danger', onclick: async () => {
        message.clear();
        const removed = await confirmDialog({
          title: t('settings.members.confirmRemove', { name: label }),
          body: [h('p', null, t('settings.members.confirmRemoveBody', { email: m.email }))],
          confirm: t('settings.members.remove'), danger: true,
          onConfirm: () => ctx.api.del(`/v1/members/${encodeURIComponent(m.user_id)}`),
        });
        if (removed) {
          await ctx.refresh();
          ctx.announce(t('settings.members.removed', { name: label }));
        }
      } }, t('settings.members.remove'))));
  };
  message.el.classList.add('members-status');
  replace(ctx.root,
    h('section', { class: 'card', 'aria-labelledby': 'members-title' },
      h('h2', { id: 'members-title' }, t('settings.members.title')),
      h('p', { class: 'hint' }, t('settings.members.help')),
      message.el,
      h('table', { class: 'data members' },
        h('caption', { class: 'sr-only' }, t('settings.members.title')),
        h('thead', null, h('tr', null, ['name', 'email', 'role', 'since', 'lastSignIn'].map((k) => h('th', { scope: 'col' }, t(`settings.members.${k}`))), h('th', { scope: 'col' }, t('settings.actions')))),
        h('tbody', null, list.map(row)))),
    inviteForm(ctx));
}

function inviteForm(/** @type {import('./common.js').TabContext} */ ctx) {
  const allowed = ctx.can('members:write');
  const email = /** @type {HTMLInputElement} */ (h('input', { type: 'email', name: 'email', required: true, disabled: !allowed, autocomplete: 'off' }));
  const name = /** @type {HTMLInputElement} */ (h('input', { type: 'text', name: 'name', maxlength: '200', disabled: !allowed, autocomplete: 'off' }));
  const offered = ctx.can('owners:write') ? ROLES : ROLES.filter((r) => r !== 'owner');
  const role = /** @type {HTMLSelectElement} */ (select(offered.map((r) => [r, t(`role.${r}`)]), 'analyst', { name: 'role', disabled: !allowed }));
  const result = status();
  const slot = h('div', { class: 'once-slot' });
  const submit = guarded(ctx, 'members:write', { class: 'primary' }, t('settings.members.inviteSubmit'));
  if (allowed) submit.setAttribute('type', 'submit');
  return h('form', { class: 'card settings-form', 'aria-labelledby': 'invite-title', novalidate: true, onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    if (!allowed) return;
    result.clear();
    try {
      const added = await ctx.api.post('/v1/members', { email: email.value.trim(), name: name.value.trim(), role: role.value });
      await ctx.refresh();
      const target = ctx.root.querySelector('form[aria-labelledby="invite-title"] .once-slot');
      if (!target) return;
      if (added.set_password_url) {
        replace(target, oneTime(ctx, t('settings.members.link', { email: added.member.email, hours: fmt.number((added.set_password_expires_in_s || 0) / 3600, 1) }), added.set_password_url));
        /** @type {HTMLElement|null} */ (target.querySelector('button'))?.focus();
      } else {
        replace(target, h('p', { role: 'status' }, t('settings.members.existing', { email: added.member.email, role: t(`role.${added.member.role}`) })));
      }
    } catch (error) {
      result.fail(error);
      email.focus();
    }
  } },
  h('h2', { id: 'invite-title' }, t('settings.members.invite')),
  h('p', { class: 'hint' }, t('settings.members.inviteHint')),
  slot,
  h('div', { class: 'settings-grid' },
    field(t('settings.members.email'), email),
    field(t('settings.members.name'), name),
    field(t('settings.members.role'), role)),
  result.el,
  h('div', { class: 'row' }, submit));
}
