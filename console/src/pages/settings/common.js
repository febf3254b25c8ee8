// What the settings tabs share: a one-time secret with a copy button, a confirmation dialog, the
// form error box that shows the API's message, a sentence for a tab the role may not read, and
// re-rendering a tab in place (data-ready removed before, ctx.ready() after).
import { h, replace, uid } from '../../dom.js';
import { t, addMessages } from '../../i18n.js';

addMessages({
  en: {
    'settings.copy': 'Copy', 'settings.copied': 'Copied to the clipboard.', 'settings.copyFailed': 'Could not copy: select the text and copy it yourself.',
    'settings.once': 'Shown once: copy it now, it cannot be shown again.', 'settings.dismiss': 'Done, hide it',
    'settings.cancel': 'Cancel', 'settings.confirm': 'Confirm', 'settings.saved': 'Saved.', 'settings.save': 'Save',
    'settings.noAccess': 'Your role ({role}) cannot see this tab: it needs the {permission} permission, which owners and admins have.',
    'settings.none': 'None', 'settings.never': 'Never', 'settings.yes': 'Yes', 'settings.no': 'No', 'settings.actions': 'Actions',
  },
  'zh-CN': {
    'settings.copy': '复制', 'settings.copied': '已复制到剪贴板。', 'settings.copyFailed': '无法复制：请选中文本后手动复制。',
    'settings.once': '仅显示一次：请立即复制，之后无法再次查看。', 'settings.dismiss': '已保存，隐藏',
    'settings.cancel': '取消', 'settings.confirm': '确认', 'settings.saved': '已保存。', 'settings.save': '保存',
    'settings.noAccess': '您的角色（{role}）无法查看此标签页：需要 {permission} 权限，所有者和管理员拥有该权限。',
    'settings.none': '无', 'settings.never': '从不', 'settings.yes': '是', 'settings.no': '否', 'settings.actions': '操作',
  },
  'zh-TW': {
    'settings.copy': '複製', 'settings.copied': '已複製到剪貼簿。', 'settings.copyFailed': '無法複製：請選取文字後自行複製。',
    'settings.once': '僅顯示一次：請立即複製，之後無法再次檢視。', 'settings.dismiss': '已儲存，隱藏',
    'settings.cancel': '取消', 'settings.confirm': '確認', 'settings.saved': '已儲存。', 'settings.save': '儲存',
    'settings.noAccess': '您的角色（{role}）無法檢視此分頁：需要 {permission} 權限，擁有者和管理員具備該權限。',
    'settings.none': '無', 'settings.never': '永不', 'settings.yes': '是', 'settings.no': '否', 'settings.actions': '操作',
  },
});

/**
 * A tab's context: the page's, plus `refresh()` that re-renders this tab in place.
 * @typedef {import('../../main.js').PageContext & { refresh: () => Promise<void> }} TabContext
 */

/** A secret shown once (a new key, token, webhook secret or invite link), with a copy button. */
export function oneTime(/** @type {{ announce: (m: string) => void }} */ ctx, /** @type {string} */ label, /** @type {string} */ secret) {
  const id = uid('secret');
  const box = h('div', { class: 'card once', role: 'status' },
    h('p', null, h('strong', { id }, label)),
    h('p', { class: 'once-value' }, h('code', { 'aria-labelledby': id, 'data-secret': '' }, secret)),
    h('p', { class: 'hint' }, t('settings.once')),
    h('div', { class: 'row' },
      h('button', { type: 'button', class: 'primary', onclick: async () => {
        try {
          await navigator.clipboard.writeText(secret);
          ctx.announce(t('settings.copied'));
        } catch {
          ctx.announce(t('settings.copyFailed'));
        }
      } }, t('settings.copy')),
      h('button', { type: 'button', onclick: () => box.remove() }, t('settings.dismiss'))));
  return box;
}

/**
 * Asks with a native modal dialog; resolves true when confirmed. Focus returns to the opener.
 * `body` may hold form controls; `onConfirm` may throw an ApiError, shown in the dialog.
 * @param {{ title: string, body: any[], confirm: string, danger?: boolean, onConfirm?: () => Promise<void> }} o
 * @returns {Promise<boolean>}
 */
export function confirmDialog(o) {
  const opener = /** @type {HTMLElement|null} */ (document.activeElement);
  const titleId = uid('dlg');
  const error = h('p', { class: 'field-error', role: 'alert' });
  return new Promise((resolve) => {
    let done = false;
    const ok = h('button', { type: 'submit', class: o.danger ? 'danger' : 'primary' }, o.confirm);
    const dialog = /** @type {HTMLDialogElement} */ (h('dialog', { 'aria-labelledby': titleId, class: 'settings-dialog' },
      h('form', { method: 'dialog', onsubmit: async (/** @type {Event} */ e) => {
        e.preventDefault();
        error.textContent = '';
        ok.disabled = true;
        try {
          if (o.onConfirm) await o.onConfirm();
          done = true;
          dialog.close();
        } catch (failure) {
          error.textContent = /** @type {any} */ (failure).message || String(failure);
          ok.disabled = false;
        }
      } },
      h('h2', { id: titleId }, o.title),
      o.body,
      error,
      h('div', { class: 'row' }, ok, h('button', { type: 'button', onclick: () => dialog.close() }, t('settings.cancel'))))));
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
      resolve(done);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A form's message line: the API's message on failure (role=alert), "Saved." on success. */
export function status() {
  const el = h('p', { class: 'form-status', role: 'status' });
  return {
    el,
    clear() { el.textContent = ''; el.classList.remove('ok', 'field-error'); el.setAttribute('role', 'status'); },
    ok(/** @type {string} */ text = t('settings.saved')) { el.classList.remove('field-error'); el.classList.add('ok'); el.setAttribute('role', 'status'); el.textContent = text; },
    fail(/** @type {any} */ error) {
      el.classList.remove('ok');
      el.classList.add('field-error');
      el.setAttribute('role', 'alert');
      el.textContent = error?.message || String(error);
    },
  };
}

/** What a role that may not read a tab sees. */
export function noAccess(/** @type {{ project: { role: string } }} */ ctx, /** @type {string} */ permission) {
  return h('p', { class: 'notice', 'data-no-access': permission }, t('settings.noAccess', { role: t(`role.${ctx.project.role}`), permission }));
}

/** Lines of a textarea → trimmed, non-empty, unique. */
export function lines(/** @type {string} */ text) {
  return [...new Set(text.split(/[\n,，、]/).map((s) => s.trim()).filter(Boolean))];
}

export { h, replace };
