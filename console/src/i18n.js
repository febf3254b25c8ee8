// Texts in English, Simplified and Traditional Chinese. Each page registers its own messages with
// addMessages({ en: {...}, 'zh-CN': {...}, 'zh-TW': {...} }); test/unit checks every key exists in
// all three. A message is a string with {name} placeholders, or { one, other } chosen by Intl.PluralRules
// from the `count` variable.

/** @typedef {'en' | 'zh-CN' | 'zh-TW'} Locale */
/** @type {Locale[]} */
export const LOCALES = ['en', 'zh-CN', 'zh-TW'];
export const LOCALE_NAMES = { en: 'English', 'zh-CN': '简体中文', 'zh-TW': '繁體中文' };

/** @type {Record<Locale, Record<string, any>>} */
const messages = { en: {}, 'zh-CN': {}, 'zh-TW': {} };
/** @type {Locale} */
let current = 'en';

/** @param {Partial<Record<Locale, Record<string, any>>>} table */
export function addMessages(table) {
  for (const locale of LOCALES) Object.assign(messages[locale], table[locale] || {});
}

/** Every registered key per locale (for the completeness test). */
export const allMessages = () => messages;

/** The best locale for a list of browser languages. */
export function pickLocale(/** @type {readonly string[]} */ languages) {
  for (const raw of languages) {
    const lang = raw.toLowerCase();
    if (lang === 'zh-tw' || lang === 'zh-hk' || lang === 'zh-mo' || lang.startsWith('zh-hant')) return 'zh-TW';
    if (lang.startsWith('zh')) return 'zh-CN';
    if (lang.startsWith('en')) return 'en';
  }
  return 'en';
}

export function setLocale(/** @type {Locale} */ locale) {
  current = LOCALES.includes(locale) ? locale : 'en';
  document.documentElement.lang = current;
}

export const locale = () => current;

/**
 * The message `key` in the current locale with `{name}` placeholders filled. A missing key falls
 * back to English, then to the key itself (visible, so a test can find it).
 * @param {string} key
 * @param {Record<string, string | number>} [vars]
 */
export function t(key, vars) {
  let message = messages[current][key] ?? messages.en[key] ?? key;
  if (typeof message === 'object') {
    const rule = new Intl.PluralRules(current).select(Number(vars?.count ?? 0));
    message = message[rule] ?? message.other;
  }
  return vars ? String(message).replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m)) : String(message);
}
