// Saved views: a list page's filters and sort (its URL query) under a name, kept by the API
// (/v1/views). Any list page mounts it with its page name:
//
//   import { savedViews } from '../components/views.js';
//   toolbar.append(savedViews(ctx, 'alerts', { onApply: (query) => ctx.setQuery(query, { render: true }) }));
//
// Picking a view replaces the page's query with the view's (default: a navigation to the same
// path with that query, so the page renders again). A page that changes its query in place
// (without rendering again) dispatches `cx:sync` on the returned element so the picker shows
// which saved view, if any, the filters now are. Saving needs views:write (a viewer sees the
// button disabled with the reason); only a view's owner may delete it (others see why not).
import { h, replace, append, uid } from '../dom.js';
import { t, addMessages } from '../i18n.js';
import { guarded } from './ui.js';

addMessages({
  en: {
    'views.label': 'Saved views', 'views.none': '— Pick a saved view —', 'views.apply': 'Show', 'views.save': 'Save view…', 'views.delete': 'Delete view',
    'views.shared': '(shared by {owner})', 'views.mineShared': '(shared)', 'views.dialogTitle': 'Save the current filters as a view', 'views.name': 'Name',
    'views.share': 'Share with everyone in the project', 'views.cancel': 'Cancel', 'views.saveButton': 'Save', 'views.saved': 'View “{name}” saved.',
    'views.deleted': 'View “{name}” deleted.', 'views.applied': 'Showing view “{name}”.', 'views.notOwner': 'Only its owner ({owner}) can delete this view.',
    'views.pickFirst': 'Pick a view first.', 'views.confirmDelete': 'Delete the view “{name}”?', 'views.nameRequired': 'Give the view a name.',
    'views.failed': 'Saved views are unavailable: {message}',
  },
  'zh-CN': {
    'views.label': '已保存的视图', 'views.none': '— 选择已保存的视图 —', 'views.apply': '显示', 'views.save': '保存视图…', 'views.delete': '删除视图',
    'views.shared': '（{owner} 共享）', 'views.mineShared': '（已共享）', 'views.dialogTitle': '将当前筛选条件保存为视图', 'views.name': '名称',
    'views.share': '与项目中的所有人共享', 'views.cancel': '取消', 'views.saveButton': '保存', 'views.saved': '视图“{name}”已保存。',
    'views.deleted': '视图“{name}”已删除。', 'views.applied': '正在显示视图“{name}”。', 'views.notOwner': '只有创建者（{owner}）可以删除此视图。',
    'views.pickFirst': '请先选择一个视图。', 'views.confirmDelete': '删除视图“{name}”？', 'views.nameRequired': '请为视图命名。',
    'views.failed': '无法使用已保存的视图：{message}',
  },
  'zh-TW': {
    'views.label': '已儲存的檢視', 'views.none': '— 選擇已儲存的檢視 —', 'views.apply': '顯示', 'views.save': '儲存檢視…', 'views.delete': '刪除檢視',
    'views.shared': '（{owner} 共用）', 'views.mineShared': '（已共用）', 'views.dialogTitle': '將目前的篩選條件儲存為檢視', 'views.name': '名稱',
    'views.share': '與專案中的所有人共用', 'views.cancel': '取消', 'views.saveButton': '儲存', 'views.saved': '檢視「{name}」已儲存。',
    'views.deleted': '檢視「{name}」已刪除。', 'views.applied': '正在顯示檢視「{name}」。', 'views.notOwner': '只有建立者（{owner}）可以刪除此檢視。',
    'views.pickFirst': '請先選擇一個檢視。', 'views.confirmDelete': '刪除檢視「{name}」？', 'views.nameRequired': '請為檢視命名。',
    'views.failed': '無法使用已儲存的檢視：{message}',
  },
});

/** Query keys never saved in a view: paging is a position, not a filter. */
const POSITION_KEYS = ['cursor', 'before', 'page'];

/**
 * The current URL query as a view's query: `{key: value}` or `{key: [values]}` when repeated.
 * @param {URLSearchParams} search
 * @param {string[]} exclude
 * @returns {Record<string, string | string[]>}
 */
export function queryOf(search, exclude = POSITION_KEYS) {
  /** @type {Record<string, string | string[]>} */
  const out = {};
  for (const key of new Set(search.keys())) {
    if (exclude.includes(key)) continue;
    const values = search.getAll(key).filter((v) => v !== '');
    if (values.length) out[key] = values.length === 1 ? values[0] : values;
  }
  return out;
}

/** Two view queries name the same filters (order of keys and of repeated values aside). */
export function sameQuery(/** @type {Record<string, any>} */ a, /** @type {Record<string, any>} */ b) {
  const norm = (/** @type {Record<string, any>} */ q) => JSON.stringify(Object.keys(q).sort().map((k) => [k, [].concat(q[k]).map(String).sort()]));
  return norm(a) === norm(b);
}

/** A URL search string (`?a=1&b=x&b=y`) of a view's query. */
export function searchOf(/** @type {Record<string, string | string[]>} */ query) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) for (const item of [].concat(/** @type {any} */ (value))) search.append(key, String(item));
  const text = search.toString();
  return text ? `?${text}` : '';
}

/**
 * The saved-views control of a list page: pick a view (and show it), save the current filters,
 * delete one's own view. Returns its element at once and fills it when the views arrive.
 * @param {import('../main.js').PageContext} ctx
 * @param {'accounts'|'feedback'|'alerts'} page
 * @param {{ exclude?: string[], onApply?: (query: Record<string, string | string[]>) => void }} [options]
 */
export function savedViews(ctx, page, options = {}) {
  const exclude = options.exclude || POSITION_KEYS;
  const apply = options.onApply || ((/** @type {Record<string, string | string[]>} */ query) => ctx.navigate(location.pathname + searchOf(query)));
  const selectId = uid('views');
  const root = h('div', { class: 'saved-views', role: 'group', 'aria-labelledby': `${selectId}-label` });
  /** @type {any[]} */
  let views = [];
  /** The id of the view last picked or saved (kept across the page's renders in this tab). */
  let lastChosen = sessionStorage.getItem(`cxloop.view.${page}`) || '';
  const remember = (/** @type {string} */ id) => {
    lastChosen = id;
    try {
      sessionStorage.setItem(`cxloop.view.${page}`, id);
    } catch { /* storage off: only the hint of which view is lost */ }
  };
  const message = h('p', { class: 'field-error', role: 'alert' });

  const current = () => queryOf(new URLSearchParams(location.search), exclude);
  const chosen = () => views.find((v) => v.id === /** @type {HTMLSelectElement} */ (picker).value);
  const picker = h('select', { id: selectId, name: 'view' });
  const show = h('button', { type: 'button', class: 'views-apply', onclick: () => {
    const view = chosen();
    if (!view) return ctx.announce(t('views.pickFirst'));
    remember(view.id);
    ctx.announce(t('views.applied', { name: view.name }));
    apply(view.query);
  } }, t('views.apply'));
  const removeSlot = h('span', { class: 'views-delete-slot' });

  function fill() {
    const now = current();
    // The view last picked or saved here first: several views may hold the same filters.
    const active = views.find((v) => v.id === lastChosen && sameQuery(v.query, now)) || views.find((v) => sameQuery(v.query, now));
    replace(picker, h('option', { value: '' }, t('views.none')), views.map((v) => h('option', { value: v.id, selected: active?.id === v.id },
      v.name, v.shared ? ` ${v.mine ? t('views.mineShared') : t('views.shared', { owner: v.owner_label })}` : '')));
    drawDelete();
  }

  function drawDelete() {
    const view = chosen();
    /** @type {HTMLElement} */
    let button;
    if (!view || view.mine) {
      button = guarded(ctx, 'views:write', { class: 'views-delete danger', onclick: () => (view ? confirmDelete(view) : ctx.announce(t('views.pickFirst'))) }, t('views.delete'));
    } else {
      const reason = t('views.notOwner', { owner: view.owner_label });
      button = h('button', { type: 'button', class: 'views-delete danger is-denied', 'aria-disabled': 'true', title: reason, onclick: () => ctx.announce(reason) }, t('views.delete'), h('span', { class: 'sr-only' }, ` (${reason})`));
    }
    replace(removeSlot, button);
  }
  picker.addEventListener('change', drawDelete);
  // The page changed its query in place (a filter, a sort): show which view, if any, it now is.
  root.addEventListener('cx:sync', fill);

  async function load() {
    try {
      const answer = await ctx.api.get('/v1/views', { page }, ctx.signal);
      views = (answer.views || []).filter((/** @type {any} */ v) => v.page === page);
      message.textContent = '';
    } catch (error) {
      if (ctx.signal.aborted) return;
      message.textContent = t('views.failed', { message: /** @type {any} */ (error).message });
    }
    fill();
  }

  // The save dialog: a name and whether to share; the API's 400 message shows under the name.
  const nameInput = /** @type {HTMLInputElement} */ (h('input', { type: 'text', name: 'name', maxlength: 80, required: true, id: uid('view-name') }));
  const shareInput = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', name: 'shared', id: uid('view-shared') }));
  const nameError = h('p', { class: 'field-error', id: `${nameInput.id}-error`, role: 'alert' });
  nameInput.setAttribute('aria-describedby', nameError.id);
  const titleId = uid('view-dialog');
  const dialog = /** @type {HTMLDialogElement} */ (h('dialog', { class: 'views-dialog', 'aria-labelledby': titleId },
    h('form', { method: 'dialog', onsubmit: async (/** @type {Event} */ e) => {
      e.preventDefault();
      const name = nameInput.value.trim();
      nameError.textContent = '';
      nameInput.removeAttribute('aria-invalid');
      if (!name) {
        nameError.textContent = t('views.nameRequired');
        nameInput.setAttribute('aria-invalid', 'true');
        return nameInput.focus();
      }
      try {
        const view = await ctx.api.post('/v1/views', { name, page, query: current(), shared: shareInput.checked });
        views = [...views.filter((v) => v.id !== view.id), view];
        remember(view.id);
        dialog.close();
        fill();
        picker.value = view.id;
        drawDelete();
        ctx.announce(t('views.saved', { name: view.name }));
      } catch (error) {
        nameError.textContent = /** @type {any} */ (error).message;
        nameInput.setAttribute('aria-invalid', 'true');
        nameInput.focus();
      }
    } },
    h('h2', { id: titleId }, t('views.dialogTitle')),
    h('div', { class: 'field' }, h('label', { for: nameInput.id }, t('views.name')), nameInput, nameError),
    h('div', { class: 'field field-inline' }, shareInput, h('label', { for: shareInput.id }, t('views.share'))),
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', onclick: () => dialog.close() }, t('views.cancel')),
      h('button', { type: 'submit', class: 'primary' }, t('views.saveButton'))))));

  // Delete confirmation.
  const confirmText = h('p', { id: uid('view-confirm') });
  /** @type {any} */
  let pending = null;
  const confirmDialog = /** @type {HTMLDialogElement} */ (h('dialog', { class: 'views-dialog', 'aria-labelledby': confirmText.id },
    confirmText,
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', onclick: () => confirmDialog.close() }, t('views.cancel')),
      h('button', { type: 'button', class: 'danger views-confirm-delete', onclick: async () => {
        const view = pending;
        try {
          await ctx.api.del(`/v1/views/${encodeURIComponent(view.id)}`);
          views = views.filter((v) => v.id !== view.id);
          confirmDialog.close();
          fill();
          picker.focus();
          ctx.announce(t('views.deleted', { name: view.name }));
        } catch (error) {
          confirmDialog.close();
          message.textContent = /** @type {any} */ (error).message;
        }
      } }, t('views.delete')))));

  function confirmDelete(/** @type {any} */ view) {
    pending = view;
    confirmText.textContent = t('views.confirmDelete', { name: view.name });
    confirmDialog.showModal();
  }

  const save = guarded(ctx, 'views:write', { class: 'views-save', onclick: () => {
    nameInput.value = '';
    shareInput.checked = false;
    nameError.textContent = '';
    nameInput.removeAttribute('aria-invalid');
    dialog.showModal();
    nameInput.focus();
  } }, t('views.save'));

  append(root, [h('label', { id: `${selectId}-label`, for: selectId }, t('views.label')), h('div', { class: 'views-row' }, picker, show, save, removeSlot), message, dialog, confirmDialog]);
  fill();
  load();
  return root;
}
