/**
 * Locales: the widget's own strings in en, zh-CN and zh-TW, the locale a browser gets, and the
 * fallback order for the survey's texts (docs/surveys.md).
 */

/** @typedef {'en' | 'zh-CN' | 'zh-TW'} Locale */

/**
 * The widget's strings. `ends` label the lowest and highest score; `choices` name each choice of
 * the kinds that show pictures instead of numbers.
 */
export const STRINGS = {
  en: {
    close: 'Close',
    later: 'Ask me later',
    submit: 'Submit',
    comment: 'Your comment (optional)',
    thanks: 'Thank you for your feedback!',
    hint: 'Use the arrow keys to choose, Enter to answer.',
    nps: ['Not likely', 'Very likely'],
    csat: ['Very dissatisfied', 'Very satisfied'],
    ces: ['Very easy', 'Very difficult'],
    thumbs: ['Thumbs down', 'Thumbs up'],
    emoji: ['Very unhappy', 'Unhappy', 'Neutral', 'Happy', 'Very happy'],
  },
  'zh-CN': {
    close: '关闭',
    later: '稍后再问',
    submit: '提交',
    comment: '您的意见（选填）',
    thanks: '感谢您的反馈！',
    hint: '用方向键选择，按回车键提交。',
    nps: ['不太可能', '非常可能'],
    csat: ['非常不满意', '非常满意'],
    ces: ['非常容易', '非常困难'],
    thumbs: ['不喜欢', '喜欢'],
    emoji: ['非常不开心', '不开心', '一般', '开心', '非常开心'],
  },
  'zh-TW': {
    close: '關閉',
    later: '稍後再問',
    submit: '送出',
    comment: '您的意見（選填）',
    thanks: '感謝您的回饋！',
    hint: '使用方向鍵選擇，按 Enter 鍵送出。',
    nps: ['不太可能', '非常可能'],
    csat: ['非常不滿意', '非常滿意'],
    ces: ['非常容易', '非常困難'],
    thumbs: ['不喜歡', '喜歡'],
    emoji: ['非常不開心', '不開心', '普通', '開心', '非常開心'],
  },
};

/**
 * The locale for a language tag (the `locale` option, else `navigator.language`): zh-TW for
 * Traditional Chinese (zh-TW, zh-HK, zh-MO, zh-Hant*), zh-CN for other Chinese, en otherwise.
 * @param {unknown} tag
 * @returns {Locale}
 */
export function resolveLocale(tag) {
  const t = String(tag || '').toLowerCase();
  if (!/^zh(-|_|$)/.test(t)) return 'en';
  return /^zh[-_](tw|hk|mo|hant)/.test(t) ? 'zh-TW' : 'zh-CN';
}

/**
 * A survey text for the locale: that locale's, else the same language's (zh-TW ↔ zh-CN), else
 * English, else the first text given. Returns the text and its locale (for the `lang` attribute),
 * or null when there is none.
 * @param {Record<string, unknown> | null | undefined} texts
 * @param {Locale} locale
 * @returns {[text: string, locale: string] | null}
 */
export function pickText(texts, locale) {
  if (!texts || typeof texts !== 'object') return null;
  const sibling = locale === 'zh-TW' ? 'zh-CN' : locale === 'zh-CN' ? 'zh-TW' : 'en';
  for (const candidate of [locale, sibling, 'en', ...Object.keys(texts)]) {
    const text = texts[candidate];
    if (typeof text === 'string' && text) return [text, candidate];
  }
  return null;
}
