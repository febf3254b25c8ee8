/** Building Segment Spec events: ids, timestamps, context. */

import { VERSION } from './version.js';

/** @import { Env } from './env.js' */

/** @typedef {Record<string, unknown>} Properties */

/** The ids stored by earlier visits: anonymous id, user id, account id. */
/** @typedef {[string, string | null, string | null]} StoredIds */

/**
 * A Segment Spec event as it goes on the wire.
 * @typedef {{
 *   type: 'track' | 'identify' | 'group' | 'page',
 *   messageId: string,
 *   timestamp: string,
 *   anonymousId?: string,
 *   userId?: string | null,
 *   event?: string,
 *   name?: string,
 *   groupId?: string,
 *   properties?: Properties,
 *   traits?: Properties,
 *   context: Properties,
 * }} SegmentEvent
 */

/**
 * A UUID v4 (RFC 9562) from 16 random bytes.
 * @param {Uint8Array} bytes
 */
export function uuid(bytes) {
  bytes[6] = (bytes[6] & 15) | 64;
  bytes[8] = (bytes[8] & 63) | 128;
  let id = '';
  for (let i = 0; i < 16; i++) {
    id += (bytes[i] + 256).toString(16).slice(1);
    if (i & 1 && i > 2 && i < 10) id += '-'; // after bytes 3, 5, 7 and 9
  }
  return id;
}

/**
 * UTF-8 length of a string, without allocating: request limits are in bytes.
 * @param {string} text
 */
export function utf8Length(text) {
  let bytes = text.length;
  if (!/[^\0-\x7f]/.test(text)) return bytes; // the common case, without a loop
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // Surrogate halves count 2 each (4 a pair); other code units above 0x7ff take 3 bytes.
    if (code > 127) bytes += code > 2047 && (code < 0xd800 || code > 0xdfff) ? 2 : 1;
  }
  return bytes;
}

/**
 * The parts of `context` that do not change while the page lives, computed once.
 * @param {any} win
 * @returns {Properties}
 */
export function staticContext(win) {
  const nav = win.navigator;
  const screen = win.screen;
  return {
    locale: nav.language,
    userAgent: nav.userAgent,
    screen: { width: screen.width, height: screen.height },
    library: { name: 'cxloop-js', version: VERSION },
  };
}

/**
 * The IANA time zone. Called when events are serialised, in an idle moment, not when they are
 * captured: the first Intl.DateTimeFormat of a page costs Chromium 25–60 ms (ICU data), unless
 * the page has already formatted a date.
 * @param {any} win
 */
export function timezone(win) {
  try {
    return win.Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) { /* no Intl: left out */ }
}

/**
 * `context.page` and the page event's properties (Segment Spec page fields).
 * @param {any} win
 * @param {string} referrer
 */
export function pageFields(win, referrer) {
  const location = win.location;
  return {
    path: location.pathname,
    url: location.href,
    title: win.document.title,
    referrer,
    search: location.search,
  };
}

/**
 * A call as captured, on the calls' path: only what must be read at that moment. The ids are as
 * the calls have set them; `undefined` means "as stored by earlier visits", not read yet.
 * @typedef {[type: SegmentEvent['type'], fields: Properties, page: Properties, time: number,
 *   anonymousId: string | undefined, userId: string | null | undefined, groupId: string | null | undefined]} CapturedCall
 */

/**
 * The Segment Spec event for a captured call, built in an idle moment.
 * @param {Env} env
 * @param {CapturedCall} call
 * @param {StoredIds} stored
 * @param {Properties} context the static context and the time zone
 * @returns {SegmentEvent}
 */
export function buildEvent(env, [type, fields, page, time, anonymousId, userId, groupId], stored, context) {
  /** @type {any} */
  const event = {
    type,
    messageId: uuid(env._random16()),
    timestamp: env._iso(time),
    anonymousId: anonymousId === undefined ? stored[0] : anonymousId,
    ...fields,
    context: { page, ...context },
  };
  if ((userId = userId === undefined ? stored[1] : userId)) event.userId = userId;
  if ((groupId = groupId === undefined ? stored[2] : groupId)) event.context.groupId = groupId;
  return event;
}
