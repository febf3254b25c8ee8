import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BACKOFF_MAX_MS, DROP, OK, RETRY, RETRY_AFTER_MAX_MS, SPLIT, backoff, batchBody, classify, retryAfterMs,
} from '../../src/transport.js';

describe('classify: the server contract', () => {
  const table = [
    [200, OK],
    [401, DROP], [403, DROP], [404, DROP], [422, DROP],
    [400, SPLIT], [413, SPLIT],
    [408, RETRY], [429, RETRY], [500, RETRY], [502, RETRY], [503, RETRY], [504, RETRY],
    [0, RETRY], // network error
    [201, RETRY], [204, RETRY], [302, RETRY], // only exactly 200 is success
  ];
  for (const [status, verdict] of table) {
    test(`HTTP ${status}`, () => assert.equal(classify(status), verdict));
  }
});

describe('backoff', () => {
  test('doubles per attempt, with jitter in the upper half', () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      const ceiling = Math.min(BACKOFF_MAX_MS, 1000 * 2 ** (attempt - 1));
      assert.equal(backoff(attempt, () => 0), ceiling / 2);
      assert.equal(backoff(attempt, () => 0.999999), ceiling / 2 + (0.999999 * ceiling) / 2);
    }
  });
  test('is capped', () => {
    assert.ok(backoff(100, () => 1) <= BACKOFF_MAX_MS);
  });
  test('spreads clients out', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoff(5, Math.random)));
    assert.ok(delays.size > 40);
  });
});

describe('retryAfterMs', () => {
  const now = Date.UTC(2026, 0, 1, 0, 0, 0);
  const table = [
    [null, 0],
    ['', 0],
    ['0', 0],
    ['3', 3000],
    ['1.5', 1500],
    ['Thu, 01 Jan 2026 00:00:30 GMT', 30000],
    ['Wed, 31 Dec 2025 23:00:00 GMT', 0], // in the past
    ['soon', 0],
    ['999999', RETRY_AFTER_MAX_MS],
  ];
  for (const [value, expected] of table) {
    test(`Retry-After: ${value}`, () => assert.equal(retryAfterMs(/** @type {string|null} */ (value), now, Date.parse), expected));
  }
});

describe('batchBody', () => {
  test('is the /v1/batch envelope with the write key in the body', () => {
    const entries = [{ _json: '{"type":"track","event":"A"}' }, { _json: '{"type":"page"}' }].map((e, i) => ({ ...e, _id: String(i), _bytes: 1, _time: 0 }));
    const body = JSON.parse(batchBody(entries, '2026-01-01T00:00:00.000Z', 'key"with quotes', JSON.stringify));
    assert.deepEqual(body, {
      batch: [{ type: 'track', event: 'A' }, { type: 'page' }],
      sentAt: '2026-01-01T00:00:00.000Z',
      writeKey: 'key"with quotes',
    });
  });
});
