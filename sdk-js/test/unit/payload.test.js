import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { webcrypto } from 'node:crypto';
import { buildEvent, pageFields, staticContext, timezone, utf8Length, uuid } from '../../src/payload.js';
import { captureEnv } from '../../src/env.js';
import { fakeWindow } from '../helpers/fake-browser.js';
import { UUID_V4 } from '../helpers/setup.js';

describe('uuid', () => {
  test('is a v4 UUID with the RFC 9562 variant', () => {
    for (let i = 0; i < 500; i++) assert.match(uuid(webcrypto.getRandomValues(new Uint8Array(16))), UUID_V4);
  });
  test('keeps every random bit outside version and variant', () => {
    assert.equal(uuid(new Uint8Array(16).fill(255)), 'ffffffff-ffff-4fff-bfff-ffffffffffff');
    assert.equal(uuid(new Uint8Array(16)), '00000000-0000-4000-8000-000000000000');
  });
});

describe('utf8Length', () => {
  const cases = ['', 'ascii only', 'é', 'ü€', '中文评论', '😀', 'a😀b中c', '\u0000\u007f\u0080\u07ff\u0800\uffff', '\ud83d'];
  for (const text of cases) {
    test(`matches Buffer.byteLength for ${JSON.stringify(text)}`, () => {
      // A lone surrogate is sent JSON-escaped, so only well-formed text needs to agree exactly.
      if (text === '\ud83d') assert.ok(utf8Length(text) >= 2);
      else assert.equal(utf8Length(text), Buffer.byteLength(text, 'utf8'));
    });
  }
  test('agrees with Buffer.byteLength on random well-formed strings', () => {
    const pool = ['a', 'Z', ' ', 'é', 'ß', '€', '中', '😀', '\n', '"'];
    for (let n = 0; n < 200; n++) {
      let text = '';
      for (let i = 0; i < 40; i++) text += pool[Math.floor(Math.random() * pool.length)];
      assert.equal(utf8Length(text), Buffer.byteLength(text, 'utf8'));
    }
  });
});

describe('buildEvent', () => {
  const ids = /** @type {import('../../src/payload.js').StoredIds} */ (['stored-anon', 'stored-user', 'stored-acct']);

  test('fills the Segment Spec fields and context', () => {
    const win = fakeWindow({ url: 'https://app.example.com/reports?range=7d#top', title: 'Reports', referrer: 'https://google.com/' });
    const env = captureEnv(win);
    const page = pageFields(win, 'https://google.com/');
    const time = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    const event = buildEvent(env, ['track', { event: 'Clicked', properties: { a: 1 } }, page, time, 'anon-1', 'user-1', 'acct-9'], ids, { ...staticContext(win), timezone: 'Europe/Paris' });
    assert.match(event.messageId, UUID_V4);
    assert.deepEqual({ ...event, messageId: 'x' }, {
      type: 'track',
      messageId: 'x',
      timestamp: '2026-01-02T03:04:05.678Z',
      anonymousId: 'anon-1',
      event: 'Clicked',
      properties: { a: 1 },
      context: {
        page: {
          path: '/reports',
          url: 'https://app.example.com/reports?range=7d#top',
          title: 'Reports',
          referrer: 'https://google.com/',
          search: '?range=7d',
        },
        locale: 'en-GB',
        userAgent: 'FakeBrowser/1.0',
        screen: { width: 1440, height: 900 },
        library: { name: 'cxloop-js', version: '0.1.0' },
        timezone: 'Europe/Paris',
        groupId: 'acct-9',
      },
      userId: 'user-1',
    });
    assert.deepEqual(Object.keys(event).slice(0, 4), ['type', 'messageId', 'timestamp', 'anonymousId']);
  });

  test('takes the stored ids where the calls set none, and leaves out an unknown user or account', () => {
    const win = fakeWindow();
    const env = captureEnv(win);
    const asStored = buildEvent(env, ['page', {}, {}, 0, undefined, undefined, undefined], ids, {});
    assert.deepEqual([asStored.anonymousId, asStored.userId, asStored.context.groupId], ids);
    const afterReset = buildEvent(env, ['page', {}, {}, 0, 'new', null, null], ids, {});
    assert.equal(afterReset.anonymousId, 'new');
    assert.equal('userId' in afterReset, false);
    assert.equal('groupId' in afterReset.context, false);
    const nothingStored = buildEvent(env, ['page', {}, {}, 0, undefined, undefined, undefined], ['a', null, null], {});
    assert.equal('userId' in nothingStored, false);
    assert.equal('groupId' in nothingStored.context, false);
  });

  test('timezone is the IANA zone', () => {
    assert.equal(timezone(fakeWindow()), Intl.DateTimeFormat().resolvedOptions().timeZone);
    assert.equal(timezone({}), undefined);
  });
});
