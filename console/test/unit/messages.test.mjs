// Every text of the console exists in English, Simplified and Traditional Chinese, with the same
// placeholders; the Chinese texts are not English left untranslated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';

const { allMessages, LOCALES } = await import('../../src/i18n.js');
await import('../../src/messages.js');
for (const file of readdirSync(new URL('../../src/pages/', import.meta.url))) {
  if (file.endsWith('.js')) await import(`../../src/pages/${file}`);
}

const placeholders = (/** @type {any} */ m) => JSON.stringify([...String(typeof m === 'object' ? Object.values(m).join(' ') : m).matchAll(/\{(\w+)\}/g)].map((x) => x[1]).sort());

test('every key exists in every locale with the same placeholders', () => {
  const messages = allMessages();
  const keys = new Set(LOCALES.flatMap((l) => Object.keys(messages[l])));
  assert.ok(keys.size > 50, `only ${keys.size} keys registered`);
  const missing = [];
  for (const key of keys) {
    for (const locale of LOCALES) {
      if (!(key in messages[locale])) missing.push(`${locale}: ${key}`);
      else if (placeholders(messages[locale][key]) !== placeholders(messages.en[key] ?? messages[locale][key])) missing.push(`${locale}: ${key} has other placeholders`);
    }
  }
  assert.deepEqual(missing, []);
});

test('Chinese texts are written in Chinese', () => {
  const messages = allMessages();
  const untranslated = [];
  for (const locale of ['zh-CN', 'zh-TW']) {
    for (const [key, value] of Object.entries(messages[locale])) {
      const text = typeof value === 'object' ? Object.values(value).join(' ') : String(value);
      const en = messages.en[key];
      // Identical to English and containing Latin words: untranslated (names, codes and symbols may stay).
      if (en === value && /[A-Za-z]{4,}/.test(text.replace(/\{\w+\}/g, ''))) untranslated.push(`${locale}: ${key}`);
    }
  }
  assert.deepEqual(untranslated, []);
});
