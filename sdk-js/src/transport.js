/**
 * Talking to the ingest endpoint: the request body, one POST, what each answer means, and how long
 * to wait before trying again.
 */

/** @import { Env } from './env.js' */
/** @import { Entry } from './outbox.js' */

/** The server took the batch (it may list individually invalid events as rejected). */
export const OK = 1;
/** The server will never take this batch (401, 403, 404, ...: the write key or the URL): do not retry. */
export const DROP = 2;
/**
 * Refused for what it holds (400, 413): send it again in halves, so that the events beside a bad
 * one get through; a single event is dropped (and reported).
 */
export const SPLIT = 3;
/** Network error, 408, 429, 5xx: keep the batch and retry after a backoff (within a budget, see client.js). */
export const RETRY = 4;

/** @typedef {typeof OK | typeof DROP | typeof SPLIT | typeof RETRY} Verdict */

export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_MAX_MS = 300000;
/** A Retry-After beyond an hour is more likely a misconfigured proxy than a plan. */
export const RETRY_AFTER_MAX_MS = 3600000;

/**
 * @param {number} status HTTP status, 0 for a network error
 * @returns {Verdict}
 */
export function classify(status) {
  if (status === 200) return OK;
  if (status === 413 || status === 400) return SPLIT;
  return status >= 400 && status < 500 && status !== 408 && status !== 429 ? DROP : RETRY;
}

/**
 * Exponential backoff with jitter: attempt 1 waits 0.5–1 s, attempt 2 1–2 s, ... up to 150–300 s.
 * The random half spreads out clients that failed together.
 * @param {number} attempt 1 for the first retry
 * @param {() => number} random
 */
export function backoff(attempt, random) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
  return ceiling / 2 + (random() * ceiling) / 2;
}

/**
 * Retry-After in milliseconds from now: delay-seconds or an HTTP date; 0 when absent or unreadable.
 * @param {string | null} value
 * @param {number} now
 * @param {(date: string) => number} parseTime
 */
export function retryAfterMs(value, now, parseTime) {
  if (!value) return 0;
  const seconds = +value;
  const ms = seconds >= 0 ? seconds * 1000 : parseTime(value) - now;
  return Math.min(RETRY_AFTER_MAX_MS, ms > 0 ? ms : 0);
}

/**
 * The `/v1/batch` body, built from the events' JSON (each serialised once). The write
 * key travels in the body because sendBeacon cannot set an Authorization header.
 * @param {Entry[]} batch
 * @param {string} sentAt
 * @param {string} writeKey
 * @param {(value: unknown) => string} stringify
 */
export function batchBody(batch, sentAt, writeKey, stringify) {
  return '{"batch":[' + batch.map((e) => e._json).join(',') + '],"sentAt":"' + sentAt + '","writeKey":' + stringify(writeKey) + '}';
}

/**
 * POSTs a batch as text/plain (a string body: no CORS preflight) with keepalive, so it completes
 * even if the page goes away meanwhile. Never rejects.
 * @param {Env} env
 * @param {string} url
 * @param {string} body at most 60 KB, inside the 64 KB keepalive budget
 * @returns {Promise<{ _status: number, _retryAfter: string | null, _text: string }>}
 */
export async function post(env, url, body) {
  try {
    const response = await env._fetch(url, { method: 'POST', body, keepalive: true, credentials: 'omit' });
    const text = await response.text().catch(() => ''); // the status is what matters
    return { _status: response.status, _retryAfter: response.headers.get('Retry-After'), _text: text };
  } catch (e) {
    return { _status: 0, _retryAfter: null, _text: String(e) };
  }
}
