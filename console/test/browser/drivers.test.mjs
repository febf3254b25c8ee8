// The console writes the health drivers again in the reader's language (src/components/drivers.js);
// this holds that mirror to the API: for every account of the stack, the English drivers the
// console writes from the components equal the API's `drivers` exactly, and every change driver
// the API gives parses (so Chinese readers never see an English one). No browser needed: the
// module imports only i18n.js.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { apiGet } from './fixtures.mjs';

// i18n.js sets <html lang> when the locale changes: a stand-in document is enough in Node.
globalThis.document ??= /** @type {any} */ ({ documentElement: {} });
const { setLocale } = await import('../../src/i18n.js');
const { scoreDrivers, changeDrivers, parseChange } = await import('../../src/components/drivers.js');

/** @type {any[]} */
let details = [];

before(async () => {
  /** @type {string[]} */
  const ids = [];
  let cursor = '';
  do {
    const answer = await apiGet(`/v1/accounts?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    ids.push(...answer.accounts.map((/** @type {any} */ a) => a.account_id));
    cursor = answer.next_cursor || '';
  } while (cursor);
  for (let i = 0; i < ids.length; i += 16) {
    details.push(...(await Promise.all(ids.slice(i, i + 16).map((id) => apiGet(`/v1/accounts/${encodeURIComponent(id)}`)))));
  }
  details = details.filter((d) => d.health?.components?.length);
});

test('in English the console writes exactly the drivers the API gives, for every scored account', () => {
  setLocale('en');
  assert.ok(details.length >= 10, `only ${details.length} scored accounts`);
  let sentences = 0;
  const kinds = new Set();
  for (const { account_id: id, health } of details) {
    assert.deepEqual(scoreDrivers(health.components), health.drivers, `account ${id}`);
    sentences += health.drivers.length;
    for (const c of health.components) if (Math.abs(c.normalised - 50) >= 10) kinds.add(c.name);
  }
  assert.ok(sentences > 0, 'some account has drivers');
  // The stack exercises more than one kind of sentence (a mirror tested on one would prove little).
  assert.ok(kinds.size >= 3, `drivers of only ${[...kinds].join(', ')}`);
});

test('every change driver the API gives parses, and reads in Chinese', () => {
  const all = details.flatMap((d) => d.health.change_drivers || []);
  for (const text of all) assert.ok(parseChange(text), `unparsed change driver: ${text}`);
  setLocale('zh-CN');
  try {
    for (const { account_id: id, health } of details) {
      const zh = changeDrivers(health.change_drivers || []);
      for (const text of zh) assert.match(text, /^[\u4e00-\u9fff]+ [+−]\d+(\.\d+)? 分$/, `account ${id}: ${text}`);
      for (const text of scoreDrivers(health.components)) assert.match(text, /^[▼▲] .*[\u4e00-\u9fff]/, `account ${id}: ${text}`);
    }
  } finally {
    setLocale('en');
  }
});
