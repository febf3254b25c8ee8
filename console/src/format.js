// Numbers, money, dates and times formatted for the current locale (Intl).
import { locale } from './i18n.js';

const cache = new Map();
function nf(/** @type {Intl.NumberFormatOptions} */ options) {
  const key = locale() + JSON.stringify(options);
  if (!cache.has(key)) cache.set(key, new Intl.NumberFormat(locale(), options));
  return cache.get(key);
}
const dash = '–';
const ok = (/** @type {any} */ v) => typeof v === 'number' && Number.isFinite(v);

export const fmt = {
  /** 1,234 / 1,234.5 */
  number: (/** @type {number|null|undefined} */ v, digits = 0) => (ok(v) ? nf({ maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(/** @type {number} */ (v)) : dash),
  /** A health score: one decimal. */
  score: (/** @type {number|null|undefined} */ v) => (ok(v) ? nf({ maximumFractionDigits: 1, minimumFractionDigits: 1 }).format(/** @type {number} */ (v)) : dash),
  /** +3.2 / −1.0 */
  signed: (/** @type {number|null|undefined} */ v, digits = 1) => (ok(v) ? nf({ maximumFractionDigits: digits, minimumFractionDigits: digits, signDisplay: 'exceptZero' }).format(/** @type {number} */ (v)) : dash),
  /** 0.25 → 25% */
  percent: (/** @type {number|null|undefined} */ v, digits = 0) => (ok(v) ? nf({ style: 'percent', maximumFractionDigits: digits }).format(/** @type {number} */ (v)) : dash),
  /** Money without a currency symbol (the `mrr` trait has none); compact above 10,000 (1.2万 / 12K). */
  money: (/** @type {number|null|undefined} */ v) => (ok(v) ? nf(Math.abs(/** @type {number} */ (v)) >= 10000 ? { notation: 'compact', maximumFractionDigits: 1 } : { maximumFractionDigits: 0 }).format(/** @type {number} */ (v)) : dash),
  /** 2026-12-05 → Dec 5, 2026 / 2026年12月5日 */
  date: (/** @type {string|null|undefined} */ iso) => (iso ? new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeZone: iso.length === 10 ? 'UTC' : undefined }).format(new Date(iso.length === 10 ? iso + 'T00:00:00Z' : iso)) : dash),
  /** A short day for chart axes and tables: 12/5 or 12月5日. */
  day: (/** @type {string} */ iso) => new Intl.DateTimeFormat(locale(), { month: 'short', day: 'numeric', timeZone: 'UTC' }).format(new Date(iso + 'T00:00:00Z')),
  dateTime: (/** @type {string|null|undefined} */ iso) => (iso ? new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso)) : dash),
  /** "3 days ago" / "3天前" */
  relative(/** @type {string|null|undefined} */ iso, now = Date.now()) {
    if (!iso) return dash;
    const seconds = (new Date(iso).getTime() - now) / 1000;
    const rtf = new Intl.RelativeTimeFormat(locale(), { numeric: 'auto' });
    for (const [unit, size] of /** @type {[Intl.RelativeTimeFormatUnit, number][]} */ ([['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60]])) {
      if (Math.abs(seconds) >= size) return rtf.format(Math.round(seconds / size), unit);
    }
    return rtf.format(Math.round(seconds), 'second');
  },
};
