// Settings → Webhooks: the project's webhooks, subscribing a URL to events (the signing secret is
// shown once), deleting, sending a test `ping`, and each webhook's delivery log (attempts, status
// codes, next retry). The selected webhook's log is in the query (?webhook=whk_…).
import { h, replace } from '../../dom.js';
import { t, addMessages } from '../../i18n.js';
import { fmt } from '../../format.js';
import { guarded, field, empty } from '../../components/ui.js';
import { oneTime, confirmDialog, status } from './common.js';

addMessages({
  en: {
    'settings.webhooks.title': 'Webhooks', 'settings.webhooks.help': 'cxloop posts signed events to these URLs (docs/webhooks.md: verifying signatures).',
    'settings.webhooks.none': 'No webhooks yet.', 'settings.webhooks.url': 'URL', 'settings.webhooks.events': 'Events', 'settings.webhooks.created': 'Created',
    'settings.webhooks.secret': 'Signing secret', 'settings.webhooks.log': 'Delivery log', 'settings.webhooks.test': 'Send test', 'settings.webhooks.delete': 'Delete',
    'settings.webhooks.logFor': 'Delivery log of {url}', 'settings.webhooks.closeLog': 'Close the log', 'settings.webhooks.refreshLog': 'Refresh the log',
    'settings.webhooks.noDeliveries': 'Nothing sent to this webhook yet. Send a test to see one.',
    'settings.webhooks.event': 'Event', 'settings.webhooks.status': 'Status', 'settings.webhooks.attempts': 'Attempts', 'settings.webhooks.nextRetry': 'Next attempt', 'settings.webhooks.finished': 'Finished',
    'settings.webhooks.status.pending': 'Pending', 'settings.webhooks.status.succeeded': 'Delivered', 'settings.webhooks.status.failed': 'Failed',
    'settings.webhooks.attempt': 'Attempt {n}: {when} — {result} ({ms} ms)', 'settings.webhooks.noStatus': 'no answer',
    'settings.webhooks.new': 'Add a webhook', 'settings.webhooks.urlHint': 'A public https:// address, e.g. https://hooks.example.com/cxloop. Private and loopback addresses are refused unless the server allows them.',
    'settings.webhooks.create': 'Add webhook', 'settings.webhooks.pickEvent': 'Choose at least one event.',
    'settings.webhooks.createdSecret': 'Signing secret of the new webhook',
    'settings.webhooks.confirmDelete': 'Delete this webhook?', 'settings.webhooks.confirmDeleteBody': '{url} stops receiving events at once; its pending deliveries and its delivery log are deleted too.',
    'settings.webhooks.tested': 'A test event was queued; it appears in the delivery log.', 'settings.webhooks.deleted': 'Webhook deleted.',
    'settings.webhooks.noDescription': 'The API keeps no description for a webhook: name the receiver in its URL path if you need to tell them apart.',
    'settings.webhooks.event.alert.opened': 'An alert is opened', 'settings.webhooks.event.alert.updated': 'An alert changes',
    'settings.webhooks.event.health.band_changed': 'An account changes band', 'settings.webhooks.event.health.dropped': 'An account’s score drops', 'settings.webhooks.event.ping': 'Test (ping)',
  },
  'zh-CN': {
    'settings.webhooks.title': 'Webhook', 'settings.webhooks.help': 'cxloop 会向这些地址推送带签名的事件（docs/webhooks.md：验证签名）。',
    'settings.webhooks.none': '还没有 Webhook。', 'settings.webhooks.url': '地址', 'settings.webhooks.events': '事件', 'settings.webhooks.created': '创建时间',
    'settings.webhooks.secret': '签名密钥', 'settings.webhooks.log': '投递记录', 'settings.webhooks.test': '发送测试', 'settings.webhooks.delete': '删除',
    'settings.webhooks.logFor': '{url} 的投递记录', 'settings.webhooks.closeLog': '关闭记录', 'settings.webhooks.refreshLog': '刷新记录',
    'settings.webhooks.noDeliveries': '尚未向此 Webhook 发送任何内容。发送一次测试即可看到记录。',
    'settings.webhooks.event': '事件', 'settings.webhooks.status': '状态', 'settings.webhooks.attempts': '尝试', 'settings.webhooks.nextRetry': '下次尝试', 'settings.webhooks.finished': '完成时间',
    'settings.webhooks.status.pending': '等待中', 'settings.webhooks.status.succeeded': '已送达', 'settings.webhooks.status.failed': '失败',
    'settings.webhooks.attempt': '第 {n} 次：{when} — {result}（{ms} 毫秒）', 'settings.webhooks.noStatus': '无响应',
    'settings.webhooks.new': '添加 Webhook', 'settings.webhooks.urlHint': '公网 https:// 地址，例如 https://hooks.example.com/cxloop。除非服务器允许，否则私有地址和回环地址会被拒绝。',
    'settings.webhooks.create': '添加', 'settings.webhooks.pickEvent': '请至少选择一个事件。',
    'settings.webhooks.createdSecret': '新 Webhook 的签名密钥',
    'settings.webhooks.confirmDelete': '删除此 Webhook？', 'settings.webhooks.confirmDeleteBody': '{url} 将立即停止接收事件；其待投递事件和投递记录也会一并删除。',
    'settings.webhooks.tested': '测试事件已加入队列，将显示在投递记录中。', 'settings.webhooks.deleted': 'Webhook 已删除。',
    'settings.webhooks.noDescription': 'API 不保存 Webhook 的描述：如需区分，请在地址路径中注明接收方。',
    'settings.webhooks.event.alert.opened': '新建预警', 'settings.webhooks.event.alert.updated': '预警有变化',
    'settings.webhooks.event.health.band_changed': '客户健康等级变化', 'settings.webhooks.event.health.dropped': '客户评分下降', 'settings.webhooks.event.ping': '测试（ping）',
  },
  'zh-TW': {
    'settings.webhooks.title': 'Webhook', 'settings.webhooks.help': 'cxloop 會向這些網址推送附簽章的事件（docs/webhooks.md：驗證簽章）。',
    'settings.webhooks.none': '還沒有 Webhook。', 'settings.webhooks.url': '網址', 'settings.webhooks.events': '事件', 'settings.webhooks.created': '建立時間',
    'settings.webhooks.secret': '簽章密鑰', 'settings.webhooks.log': '傳送紀錄', 'settings.webhooks.test': '傳送測試', 'settings.webhooks.delete': '刪除',
    'settings.webhooks.logFor': '{url} 的傳送紀錄', 'settings.webhooks.closeLog': '關閉紀錄', 'settings.webhooks.refreshLog': '重新整理紀錄',
    'settings.webhooks.noDeliveries': '尚未向此 Webhook 傳送任何內容。傳送一次測試即可看到紀錄。',
    'settings.webhooks.event': '事件', 'settings.webhooks.status': '狀態', 'settings.webhooks.attempts': '嘗試', 'settings.webhooks.nextRetry': '下次嘗試', 'settings.webhooks.finished': '完成時間',
    'settings.webhooks.status.pending': '等待中', 'settings.webhooks.status.succeeded': '已送達', 'settings.webhooks.status.failed': '失敗',
    'settings.webhooks.attempt': '第 {n} 次：{when} — {result}（{ms} 毫秒）', 'settings.webhooks.noStatus': '無回應',
    'settings.webhooks.new': '新增 Webhook', 'settings.webhooks.urlHint': '公開的 https:// 網址，例如 https://hooks.example.com/cxloop。除非伺服器允許，否則私有位址和迴路位址會被拒絕。',
    'settings.webhooks.create': '新增', 'settings.webhooks.pickEvent': '請至少選擇一個事件。',
    'settings.webhooks.createdSecret': '新 Webhook 的簽章密鑰',
    'settings.webhooks.confirmDelete': '刪除此 Webhook？', 'settings.webhooks.confirmDeleteBody': '{url} 將立即停止接收事件；其待傳送事件和傳送紀錄也會一併刪除。',
    'settings.webhooks.tested': '測試事件已加入佇列，將顯示在傳送紀錄中。', 'settings.webhooks.deleted': 'Webhook 已刪除。',
    'settings.webhooks.noDescription': 'API 不儲存 Webhook 的描述：如需區分，請在網址路徑中註明接收方。',
    'settings.webhooks.event.alert.opened': '新增警示', 'settings.webhooks.event.alert.updated': '警示有變更',
    'settings.webhooks.event.health.band_changed': '客戶健康等級變更', 'settings.webhooks.event.health.dropped': '客戶評分下降', 'settings.webhooks.event.ping': '測試（ping）',
  },
});

/** Every event type a webhook can subscribe to (cxloop.webhooks.model.EVENT_TYPES). */
const EVENTS = ['alert.opened', 'alert.updated', 'health.band_changed', 'health.dropped', 'ping'];
const eventName = (/** @type {string} */ e) => (EVENTS.includes(e) ? t(`settings.webhooks.event.${e}`) : e);

/** @param {import('./common.js').TabContext} ctx */
export default async function webhooks(ctx) {
  const selected = ctx.query.get('webhook');
  const { webhooks: list } = await ctx.api.get('/v1/webhooks', undefined, ctx.signal);
  const current = list.find((/** @type {any} */ w) => w.id === selected) || null;
  const deliveries = current ? await ctx.api.get(`/v1/webhooks/${encodeURIComponent(current.id)}/deliveries`, { limit: 50 }, ctx.signal) : null;
  const secretSlot = h('div', { class: 'once-slot' });
  const select = (/** @type {string|null} */ id) => {
    ctx.setQuery({ webhook: id });
    ctx.query = new URLSearchParams(location.search);
    return ctx.refresh();
  };
  replace(ctx.root,
    h('section', { class: 'card', 'aria-labelledby': 'webhooks-title' },
      h('h2', { id: 'webhooks-title' }, t('settings.webhooks.title')),
      h('p', { class: 'hint' }, t('settings.webhooks.help')),
      secretSlot,
      list.length ? h('table', { class: 'data webhooks' },
        h('caption', { class: 'sr-only' }, t('settings.webhooks.title')),
        h('thead', null, h('tr', null, ['url', 'events', 'created', 'secret'].map((k) => h('th', { scope: 'col' }, t(`settings.webhooks.${k}`))), h('th', { scope: 'col' }, t('settings.actions')))),
        h('tbody', null, list.map((/** @type {any} */ w) => h('tr', { 'data-webhook': w.id },
          h('th', { scope: 'row', class: 'url' }, w.url),
          h('td', null, w.events.map((/** @type {string} */ e) => h('span', { class: 'badge', title: e }, eventName(e))), ' '),
          h('td', null, fmt.dateTime(w.created_at)),
          h('td', null, h('code', null, `${w.secret_prefix}…`)),
          h('td', { class: 'actions' },
            h('button', { type: 'button', 'aria-pressed': w.id === current?.id ? 'true' : 'false', onclick: () => select(w.id === current?.id ? null : w.id) }, t('settings.webhooks.log')),
            guarded(ctx, 'webhooks:write', { class: 'test', onclick: async () => {
              try {
                await ctx.api.post(`/v1/webhooks/${encodeURIComponent(w.id)}/test`);
                ctx.announce(t('settings.webhooks.tested'));
                await select(w.id);
              } catch (error) {
                replace(secretSlot, h('p', { class: 'field-error', role: 'alert' }, /** @type {any} */ (error).message));
              }
            } }, t('settings.webhooks.test')),
            guarded(ctx, 'webhooks:write', { class: 'danger', onclick: async () => {
              const deleted = await confirmDialog({
                title: t('settings.webhooks.confirmDelete'),
                body: [h('p', null, t('settings.webhooks.confirmDeleteBody', { url: w.url }))],
                confirm: t('settings.webhooks.delete'), danger: true,
                onConfirm: () => ctx.api.del(`/v1/webhooks/${encodeURIComponent(w.id)}`),
              });
              if (deleted) {
                ctx.announce(t('settings.webhooks.deleted'));
                await select(w.id === current?.id ? null : current?.id || null);
              }
            } }, t('settings.webhooks.delete'))))))) : h('p', { class: 'empty' }, t('settings.webhooks.none'))),
    current && deliveries ? deliveryLog(ctx, current, deliveries.deliveries, () => select(null)) : null,
    createForm(ctx, secretSlot));
  if (current) /** @type {HTMLElement|null} */ (ctx.root.querySelector('#log-title'))?.focus();
}

function deliveryLog(/** @type {import('./common.js').TabContext} */ ctx, /** @type {any} */ webhook, /** @type {any[]} */ deliveries, /** @type {() => void} */ close) {
  return h('section', { class: 'card delivery-log', 'aria-labelledby': 'log-title', 'data-log-for': webhook.id },
    h('h2', { id: 'log-title', tabindex: '-1' }, t('settings.webhooks.logFor', { url: webhook.url })),
    h('div', { class: 'row' },
      h('button', { type: 'button', onclick: () => ctx.refresh() }, t('settings.webhooks.refreshLog')),
      h('button', { type: 'button', onclick: close }, t('settings.webhooks.closeLog'))),
    deliveries.length ? h('table', { class: 'data' },
      h('caption', { class: 'sr-only' }, t('settings.webhooks.logFor', { url: webhook.url })),
      h('thead', null, h('tr', null, ['event', 'status', 'created', 'attempts', 'nextRetry', 'finished'].map((k) => h('th', { scope: 'col' }, t(`settings.webhooks.${k}`))))),
      h('tbody', null, deliveries.map((d) => h('tr', { 'data-delivery': String(d.id), 'data-status': d.status },
        h('th', { scope: 'row' }, h('code', null, d.event_type)),
        h('td', null, h('span', { class: `delivery-${d.status}` }, d.status === 'succeeded' ? '✓ ' : d.status === 'failed' ? '✗ ' : '… ', t(`settings.webhooks.status.${d.status}`))),
        h('td', null, fmt.dateTime(d.created_at)),
        h('td', null, d.attempts.length ? h('ol', { class: 'attempts' }, d.attempts.map((/** @type {any} */ a) => h('li', null, t('settings.webhooks.attempt', {
          n: a.attempt ?? '', when: fmt.dateTime(a.attempted_at),
          result: a.status_code ? `HTTP ${a.status_code}` : a.error || t('settings.webhooks.noStatus'),
          ms: fmt.number(a.duration_ms ?? null),
        })))) : '–'),
        h('td', null, d.status === 'pending' ? fmt.dateTime(d.next_attempt_at) : '–'),
        h('td', null, fmt.dateTime(d.finished_at)))))) : h('p', { class: 'empty' }, t('settings.webhooks.noDeliveries')));
}

function createForm(/** @type {import('./common.js').TabContext} */ ctx, /** @type {HTMLElement} */ secretSlot) {
  const allowed = ctx.can('webhooks:write');
  const url = /** @type {HTMLInputElement} */ (h('input', { type: 'url', name: 'url', required: true, placeholder: 'https://hooks.example.com/cxloop', disabled: !allowed, autocomplete: 'off' }));
  const boxes = EVENTS.map((e) => /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', name: 'events', value: e, checked: e.startsWith('alert.'), disabled: !allowed })));
  const result = status();
  const submit = guarded(ctx, 'webhooks:write', { class: 'primary' }, t('settings.webhooks.create'));
  if (allowed) submit.setAttribute('type', 'submit');
  return h('form', { class: 'card settings-form', 'aria-labelledby': 'new-webhook', novalidate: true, onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    if (!allowed) return;
    result.clear();
    const events = boxes.filter((b) => b.checked).map((b) => b.value);
    if (!events.length) return result.fail(new Error(t('settings.webhooks.pickEvent')));
    try {
      const created = await ctx.api.post('/v1/webhooks', { url: url.value.trim(), events });
      await ctx.refresh();
      const slot = ctx.root.querySelector('.once-slot');
      if (slot) {
        replace(slot, oneTime(ctx, t('settings.webhooks.createdSecret'), created.secret));
        /** @type {HTMLElement|null} */ (slot.querySelector('button'))?.focus();
      }
    } catch (error) {
      result.fail(error);
      url.focus();
    }
  } },
  h('h2', { id: 'new-webhook' }, t('settings.webhooks.new')),
  field(t('settings.webhooks.url'), url, { hint: t('settings.webhooks.urlHint') }),
  h('fieldset', null, h('legend', null, t('settings.webhooks.events')),
    h('div', { class: 'checks' }, boxes.map((b, i) => h('label', { class: 'check' }, b, ' ', eventName(EVENTS[i]), ' ', h('code', { class: 'muted' }, EVENTS[i]))))),
  h('p', { class: 'hint' }, t('settings.webhooks.noDescription')),
  result.el,
  h('div', { class: 'row' }, submit));
}
