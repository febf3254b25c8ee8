// Settings → Privacy: deletion requests with their phase and receipt, a new deletion (confirmed by
// naming what will be erased), the retention setting, and a data subject's export downloaded
// through fetch → blob. Needs privacy:read (owners and admins); changes need privacy:write.
import { h, replace } from '../../dom.js';
import { t, addMessages } from '../../i18n.js';
import { fmt } from '../../format.js';
import { guarded, field, select } from '../../components/ui.js';
import { confirmDialog, status, noAccess } from './common.js';

addMessages({
  en: {
    'settings.privacy.title': 'Privacy', 'settings.privacy.help': 'Erasure, access and retention for end users (docs/privacy.md). Every request and export is in the audit log.',
    'settings.privacy.requests': 'Deletion requests', 'settings.privacy.noRequests': 'No deletion requests.',
    'settings.privacy.id': 'Request', 'settings.privacy.subject': 'Subject', 'settings.privacy.status': 'Status', 'settings.privacy.phase': 'Phase',
    'settings.privacy.requested': 'Requested', 'settings.privacy.finished': 'Finished', 'settings.privacy.receipt': 'Receipt', 'settings.privacy.showReceipt': 'Show the receipt',
    'settings.privacy.erased': 'Erased (subject no longer kept)',
    'settings.privacy.status.queued': 'Queued', 'settings.privacy.status.running': 'Running', 'settings.privacy.status.done': 'Done', 'settings.privacy.status.failed': 'Failed',
    'settings.privacy.delete': 'Delete a data subject', 'settings.privacy.deleteHint': 'Give at least one id. Suppression starts at once (later events of the subject are dropped); a job then erases every store.',
    'settings.privacy.userId': 'User id', 'settings.privacy.anonymousId': 'Anonymous id', 'settings.privacy.accountId': 'Account id',
    'settings.privacy.deleteSubmit': 'Delete…', 'settings.privacy.needId': 'Give a user id, an anonymous id or an account id.',
    'settings.privacy.confirmDelete': 'Erase this data subject?',
    'settings.privacy.confirmDeleteBody': 'Everything cxloop holds about the subject below is erased for good: their events in the lake, survey responses and comments, alerts, profile and traits, and later events are dropped. This cannot be undone.',
    'settings.privacy.erase': 'Erase for good', 'settings.privacy.queued': 'Deletion {id} queued.',
    'settings.privacy.retention': 'Retention', 'settings.privacy.retentionDays': 'Keep events for (days)', 'settings.privacy.retentionHint': 'Empty: forever. 1–36,500 days; older days of the lake are removed.',
    'settings.privacy.keepRollups': 'Keep the daily rollups (aggregates, no personal data) after the events are removed', 'settings.privacy.saveRetention': 'Save retention',
    'settings.privacy.forever': 'Events are kept forever.', 'settings.privacy.current': 'Events are kept {days} days.',
    'settings.privacy.export': 'Export a data subject', 'settings.privacy.exportHint': 'Everything held about one end user, to hand over through a safe channel (it is personal data itself).',
    'settings.privacy.format': 'Format', 'settings.privacy.exportSubmit': 'Download export', 'settings.privacy.downloaded': 'The export was downloaded.', 'settings.privacy.needUser': 'Give the user id to export.',
  },
  'zh-CN': {
    'settings.privacy.title': '隐私', 'settings.privacy.help': '终端用户的删除、访问与保留期限（docs/privacy.md）。每个请求和导出都记录在审计日志中。',
    'settings.privacy.requests': '删除请求', 'settings.privacy.noRequests': '没有删除请求。',
    'settings.privacy.id': '请求', 'settings.privacy.subject': '数据主体', 'settings.privacy.status': '状态', 'settings.privacy.phase': '阶段',
    'settings.privacy.requested': '请求时间', 'settings.privacy.finished': '完成时间', 'settings.privacy.receipt': '回执', 'settings.privacy.showReceipt': '查看回执',
    'settings.privacy.erased': '已删除（不再保存主体信息）',
    'settings.privacy.status.queued': '排队中', 'settings.privacy.status.running': '进行中', 'settings.privacy.status.done': '已完成', 'settings.privacy.status.failed': '失败',
    'settings.privacy.delete': '删除数据主体', 'settings.privacy.deleteHint': '至少填写一个 ID。抑制立即生效（该主体之后的事件会被丢弃），随后由任务清除所有存储中的数据。',
    'settings.privacy.userId': '用户 ID', 'settings.privacy.anonymousId': '匿名 ID', 'settings.privacy.accountId': '客户 ID',
    'settings.privacy.deleteSubmit': '删除…', 'settings.privacy.needId': '请填写用户 ID、匿名 ID 或客户 ID。',
    'settings.privacy.confirmDelete': '清除此数据主体？',
    'settings.privacy.confirmDeleteBody': 'cxloop 保存的关于以下主体的所有数据将被永久清除：数据湖中的事件、问卷回答与评论、预警、资料与特征，之后的事件也会被丢弃。此操作无法撤销。',
    'settings.privacy.erase': '永久清除', 'settings.privacy.queued': '删除请求 {id} 已排队。',
    'settings.privacy.retention': '保留期限', 'settings.privacy.retentionDays': '事件保留天数', 'settings.privacy.retentionHint': '留空：永久保留。1–36,500 天；更早的数据湖分区会被移除。',
    'settings.privacy.keepRollups': '事件移除后保留每日汇总（聚合数据，不含个人数据）', 'settings.privacy.saveRetention': '保存保留期限',
    'settings.privacy.forever': '事件永久保留。', 'settings.privacy.current': '事件保留 {days} 天。',
    'settings.privacy.export': '导出数据主体', 'settings.privacy.exportHint': '一位终端用户的全部数据，请通过安全渠道交付（导出文件本身即为个人数据）。',
    'settings.privacy.format': '格式', 'settings.privacy.exportSubmit': '下载导出文件', 'settings.privacy.downloaded': '导出文件已下载。', 'settings.privacy.needUser': '请填写要导出的用户 ID。',
  },
  'zh-TW': {
    'settings.privacy.title': '隱私', 'settings.privacy.help': '終端使用者的刪除、存取與保留期限（docs/privacy.md）。每個請求和匯出都記錄在稽核日誌中。',
    'settings.privacy.requests': '刪除請求', 'settings.privacy.noRequests': '沒有刪除請求。',
    'settings.privacy.id': '請求', 'settings.privacy.subject': '資料主體', 'settings.privacy.status': '狀態', 'settings.privacy.phase': '階段',
    'settings.privacy.requested': '請求時間', 'settings.privacy.finished': '完成時間', 'settings.privacy.receipt': '回執', 'settings.privacy.showReceipt': '檢視回執',
    'settings.privacy.erased': '已刪除（不再保存主體資訊）',
    'settings.privacy.status.queued': '排隊中', 'settings.privacy.status.running': '進行中', 'settings.privacy.status.done': '已完成', 'settings.privacy.status.failed': '失敗',
    'settings.privacy.delete': '刪除資料主體', 'settings.privacy.deleteHint': '至少填寫一個 ID。抑制立即生效（該主體之後的事件會被捨棄），隨後由工作清除所有儲存中的資料。',
    'settings.privacy.userId': '使用者 ID', 'settings.privacy.anonymousId': '匿名 ID', 'settings.privacy.accountId': '客戶 ID',
    'settings.privacy.deleteSubmit': '刪除…', 'settings.privacy.needId': '請填寫使用者 ID、匿名 ID 或客戶 ID。',
    'settings.privacy.confirmDelete': '清除此資料主體？',
    'settings.privacy.confirmDeleteBody': 'cxloop 保存的關於以下主體的所有資料將被永久清除：資料湖中的事件、問卷回答與評論、警示、個人資料與特徵，之後的事件也會被捨棄。此操作無法復原。',
    'settings.privacy.erase': '永久清除', 'settings.privacy.queued': '刪除請求 {id} 已排入佇列。',
    'settings.privacy.retention': '保留期限', 'settings.privacy.retentionDays': '事件保留天數', 'settings.privacy.retentionHint': '留空：永久保留。1–36,500 天；更早的資料湖分區會被移除。',
    'settings.privacy.keepRollups': '事件移除後保留每日彙總（彙總資料，不含個人資料）', 'settings.privacy.saveRetention': '儲存保留期限',
    'settings.privacy.forever': '事件永久保留。', 'settings.privacy.current': '事件保留 {days} 天。',
    'settings.privacy.export': '匯出資料主體', 'settings.privacy.exportHint': '一位終端使用者的全部資料，請透過安全管道交付（匯出檔本身即為個人資料）。',
    'settings.privacy.format': '格式', 'settings.privacy.exportSubmit': '下載匯出檔', 'settings.privacy.downloaded': '匯出檔已下載。', 'settings.privacy.needUser': '請填寫要匯出的使用者 ID。',
  },
});

const STATUSES = ['queued', 'running', 'done', 'failed'];
const subjectText = (/** @type {any} */ s) => (s ? [['userId', s.userId], ['anonymousId', s.anonymousId], ['accountId', s.accountId]].filter(([, v]) => v).map(([k, v]) => `${t(`settings.privacy.${k}`)}: ${v}`).join(' · ') : null);

/** @param {import('./common.js').TabContext} ctx */
export default async function privacy(ctx) {
  if (!ctx.can('privacy:read')) {
    replace(ctx.root, h('section', { class: 'card' }, h('h2', null, t('settings.privacy.title')), noAccess(ctx, 'privacy:read')));
    return;
  }
  const [page, retention] = await Promise.all([
    ctx.api.get('/v1/privacy/deletions', { limit: 100 }, ctx.signal),
    ctx.api.get('/v1/privacy/retention', undefined, ctx.signal),
  ]);
  replace(ctx.root,
    h('section', { class: 'card', 'aria-labelledby': 'privacy-title' },
      h('h2', { id: 'privacy-title' }, t('settings.privacy.requests')),
      h('p', { class: 'hint' }, t('settings.privacy.help')),
      h('div', { class: 'once-slot', role: 'status' }),
      page.deletions.length ? h('table', { class: 'data deletions' },
        h('caption', { class: 'sr-only' }, t('settings.privacy.requests')),
        h('thead', null, h('tr', null, ['id', 'subject', 'status', 'phase', 'requested', 'finished', 'receipt'].map((k) => h('th', { scope: 'col' }, t(`settings.privacy.${k}`))))),
        h('tbody', null, page.deletions.map((/** @type {any} */ d) => h('tr', { 'data-request': d.id, 'data-status': d.status },
          h('th', { scope: 'row' }, h('code', null, d.id)),
          h('td', null, subjectText(d.subject) || h('span', { class: 'muted' }, t('settings.privacy.erased'))),
          h('td', null, STATUSES.includes(d.status) ? t(`settings.privacy.status.${d.status}`) : d.status, d.error ? h('p', { class: 'field-error' }, d.error) : null),
          h('td', null, d.receipt?.phase ? h('code', null, String(d.receipt.phase)) : '–'),
          h('td', null, fmt.dateTime(d.created_at)),
          h('td', null, fmt.dateTime(d.finished_at)),
          h('td', null, Object.keys(d.receipt || {}).length ? h('details', null, h('summary', null, t('settings.privacy.showReceipt')), h('pre', { class: 'receipt' }, JSON.stringify(d.receipt, null, 2))) : '–'))))) : h('p', { class: 'empty' }, t('settings.privacy.noRequests'))),
    deletionForm(ctx),
    retentionForm(ctx, retention),
    exportForm(ctx));
}

function deletionForm(/** @type {import('./common.js').TabContext} */ ctx) {
  const allowed = ctx.can('privacy:write');
  const input = (/** @type {string} */ name) => /** @type {HTMLInputElement} */ (h('input', { type: 'text', name, maxlength: '1000', disabled: !allowed, autocomplete: 'off' }));
  const ids = { userId: input('userId'), anonymousId: input('anonymousId'), accountId: input('accountId') };
  const result = status();
  const submit = guarded(ctx, 'privacy:write', { class: 'danger' }, t('settings.privacy.deleteSubmit'));
  if (allowed) submit.setAttribute('type', 'submit');
  return h('form', { class: 'card settings-form', 'aria-labelledby': 'delete-title', novalidate: true, onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    if (!allowed) return;
    result.clear();
    /** @type {Record<string, string>} */
    const subject = {};
    for (const [key, el] of Object.entries(ids)) if (el.value.trim()) subject[key] = el.value.trim();
    if (!Object.keys(subject).length) return result.fail(new Error(t('settings.privacy.needId')));
    /** @type {any} */
    let created = null;
    const confirmed = await confirmDialog({
      title: t('settings.privacy.confirmDelete'),
      body: [h('p', null, t('settings.privacy.confirmDeleteBody')), h('ul', { class: 'subject' }, Object.entries(subject).map(([k, v]) => h('li', null, `${t(`settings.privacy.${k}`)}: `, h('code', null, v))))],
      confirm: t('settings.privacy.erase'), danger: true,
      onConfirm: async () => { created = await ctx.api.post('/v1/privacy/deletions', subject); },
    });
    if (!confirmed || !created) return;
    await ctx.refresh();
    const note = t('settings.privacy.queued', { id: created.id });
    ctx.root.querySelector('.once-slot')?.replaceChildren(note);
    ctx.announce(note);
  } },
  h('h2', { id: 'delete-title' }, t('settings.privacy.delete')),
  h('p', { class: 'hint' }, t('settings.privacy.deleteHint')),
  h('div', { class: 'settings-grid' }, field(t('settings.privacy.userId'), ids.userId), field(t('settings.privacy.anonymousId'), ids.anonymousId), field(t('settings.privacy.accountId'), ids.accountId)),
  result.el,
  h('div', { class: 'row' }, submit));
}

function retentionForm(/** @type {import('./common.js').TabContext} */ ctx, /** @type {any} */ retention) {
  const allowed = ctx.can('privacy:write');
  const days = /** @type {HTMLInputElement} */ (h('input', { type: 'number', name: 'retention_days', min: '1', max: '36500', step: '1', inputmode: 'numeric', value: retention.retention_days ?? '', disabled: !allowed }));
  const keep = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', name: 'keep_rollups', checked: retention.keep_rollups, disabled: !allowed }));
  const result = status();
  const submit = guarded(ctx, 'privacy:write', { class: 'primary' }, t('settings.privacy.saveRetention'));
  if (allowed) submit.setAttribute('type', 'submit');
  return h('form', { class: 'card settings-form', 'aria-labelledby': 'retention-title', novalidate: true, onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    if (!allowed) return;
    result.clear();
    try {
      const saved = await ctx.api.put('/v1/privacy/retention', { retention_days: days.value.trim() === '' ? null : Number(days.value), keep_rollups: keep.checked });
      result.ok(`${t('settings.saved')} ${saved.retention_days === null ? t('settings.privacy.forever') : t('settings.privacy.current', { days: fmt.number(saved.retention_days) })}`);
    } catch (error) {
      result.fail(error);
    }
  } },
  h('h2', { id: 'retention-title' }, t('settings.privacy.retention')),
  h('p', null, retention.retention_days === null ? t('settings.privacy.forever') : t('settings.privacy.current', { days: fmt.number(retention.retention_days) })),
  field(t('settings.privacy.retentionDays'), days, { hint: t('settings.privacy.retentionHint') }),
  h('label', { class: 'check' }, keep, ' ', t('settings.privacy.keepRollups')),
  result.el,
  h('div', { class: 'row' }, submit));
}

function exportForm(/** @type {import('./common.js').TabContext} */ ctx) {
  const user = /** @type {HTMLInputElement} */ (h('input', { type: 'text', name: 'user_id', maxlength: '1000', autocomplete: 'off' }));
  const anonymous = /** @type {HTMLInputElement} */ (h('input', { type: 'text', name: 'anonymous_id', maxlength: '1000', autocomplete: 'off' }));
  const format = /** @type {HTMLSelectElement} */ (select([['json', 'JSON'], ['zip', 'ZIP']], 'json', { name: 'format' }));
  const result = status();
  return h('form', { class: 'card settings-form', 'aria-labelledby': 'export-title', novalidate: true, onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    result.clear();
    const id = user.value.trim();
    if (!id) return result.fail(new Error(t('settings.privacy.needUser')));
    try {
      const response = await ctx.api.raw(`/v1/privacy/exports/${encodeURIComponent(id)}`, { anonymous_id: anonymous.value.trim(), format: format.value });
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = h('a', { href: url, download: `cxloop-export-${id.replace(/[^\w.-]+/g, '_')}.${format.value}`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      result.ok(t('settings.privacy.downloaded'));
    } catch (error) {
      result.fail(error);
    }
  } },
  h('h2', { id: 'export-title' }, t('settings.privacy.export')),
  h('p', { class: 'hint' }, t('settings.privacy.exportHint')),
  h('div', { class: 'settings-grid' }, field(t('settings.privacy.userId'), user), field(t('settings.privacy.anonymousId'), anonymous), field(t('settings.privacy.format'), format)),
  result.el,
  h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, t('settings.privacy.exportSubmit'))));
}
