/**
 * The persistent outbox: events wait here until the server has answered 200 for them, so they
 * survive offline periods, reloads and closed tabs.
 *
 * Each tab owns one partition and is the only writer of it, so two tabs never overwrite (and so
 * never lose) each other's events, and never send the same events:
 *   <prefix>q.<tab>  the tab's events, a JSON array of Segment events
 *   <prefix>h.<tab>  its heartbeat: "<ms>" while the tab lives, "0" once its page is gone,
 *                    "<ms>@<tab>" while another tab claims it
 * A live tab adopts a partition whose heartbeat is "0", missing or stale. It writes a claim,
 * waits for the claim to settle (tabs see each other's writes asynchronously), and takes the events
 * only if its claim is still there; it saves them into its own partition before deleting the old
 * one, so a crash in between duplicates (the server dedupes on messageId) but never loses events.
 * A tab that finds its own partition claimed (it was frozen, or came back from the back/forward
 * cache) moves to a new partition and keeps every event for the same reason.
 */

import { utf8Length, uuid } from './payload.js';

/** @import { Env } from './env.js' */
/** @import { Store } from './storage.js' */

/**
 * An event in the outbox, serialised once, when it is completed; `_fails` counts the failed
 * attempts its retry budget allows (in memory only: a new page gives it a new budget).
 * @typedef {{ _id: string, _json: string, _bytes: number, _time: number, _sending?: boolean, _fails?: number }} Entry
 */

/**
 * @typedef {object} Outbox
 * @property {(entry: Entry) => void} _add saved with the next `_save()`
 * @property {(maxCount: number, maxBytes: number) => Entry[]} _take oldest entries not already being
 *   sent, marked as sending
 * @property {(batch: Entry[], delivered: boolean) => void} _done delivered entries leave the outbox
 *   (saved at once); the others wait for the next attempt, behind the entries not in the batch
 * @property {() => number} _size entries waiting or being sent
 * @property {() => boolean} _save writes the partition now; false when storage is full
 * @property {() => void} _clear
 * @property {() => void} _close marks the partition for adoption and seals it: the page is going away
 * @property {() => void} _tick heartbeat and adoption of orphaned partitions; also when the page
 *   comes back from the back/forward cache, to notice that another tab took the partition
 */

export const HEARTBEAT_MS = 5000;
/** Background tabs may run timers only once a minute, frozen ones not at all: allow for that. */
export const STALE_MS = 180000;
export const CLAIM_WAIT_MS = 150;
export const CLAIM_TIMEOUT_MS = 10000;
export const TTL_MS = 7 * 864e5;

/**
 * @param {Env} env
 * @param {Store} store
 * @param {string} prefix storage key prefix, one per write key
 * @param {number} maxEvents
 * @param {number} maxBytes
 * @param {(...args: unknown[]) => void} log
 * @param {() => void} onAdopt called when adopted events are waiting to be sent
 * @returns {Outbox}
 */
export function createOutbox(env, store, prefix, maxEvents, maxBytes, log, onAdopt) {
  const newTab = () => uuid(env._random16()).slice(0, 13);
  /** @param {string} kind @param {string} id */
  const key = (kind, id) => prefix + kind + '.' + id;
  let tab = newTab();
  /** Our heartbeat as last written; null while we have no partition in storage. */
  /** @type {string | null} */
  let beat = null;
  /**
   * Set when the page goes away: from then on the partition belongs to whichever tab adopts it,
   * so this page must neither write nor send it (Chrome may fire visibilitychange after pagehide).
   */
  let sealed = false;
  /** @type {Entry[]} */
  let list = [];
  /** @type {Set<string>} */
  const claims = new Set();

  /** Moves to a new partition if another tab has claimed ours. */
  const checkOwnership = () => {
    if (beat && store._get(key('h', tab)) !== beat) {
      tab = newTab();
      beat = null;
    }
  };

  const save = () => {
    if (sealed) return true;
    checkOwnership();
    if (!list.length) {
      if (beat) {
        store._del(key('q', tab));
        store._del(key('h', tab));
        beat = null;
      }
      return true;
    }
    if (!beat) store._set(key('h', tab), (beat = '' + env._now()));
    const saved = store._set(key('q', tab), '[' + list.map((e) => e._json).join(',') + ']');
    if (!saved) log('storage full');
    return saved;
  };

  /** Drops expired entries, then the oldest ones over the caps; entries being sent stay. */
  const trim = () => {
    const cutoff = env._now() - TTL_MS;
    let bytes = 0;
    list = list.filter((e) => {
      const keep = e._sending || e._time > cutoff;
      if (keep) bytes += e._bytes;
      else log('expired', e._id);
      return keep;
    });
    while (list.length > maxEvents || bytes > maxBytes) {
      const index = list.findIndex((e) => !e._sending);
      if (index < 0) break;
      bytes -= list[index]._bytes;
      log('outbox full', list.splice(index, 1)[0]._id);
    }
  };

  /** @param {string} id */
  const adopt = (id) => {
    /** @type {unknown} */
    let events = [];
    try {
      events = env._parse(store._get(key('q', id)) || '[]');
    } catch (e) { /* a corrupt partition has nothing to recover */ }
    const known = new Set(list.map((e) => e._id));
    let count = 0;
    for (const event of /** @type {any[]} */ ([]).concat(events)) {
      if (event && event.messageId && !known.has(event.messageId)) {
        const json = env._stringify(event);
        list.push({ _id: event.messageId, _json: json, _bytes: utf8Length(json), _time: env._parseTime(event.timestamp) || env._now() });
        count++;
      }
    }
    list.sort((a, b) => a._time - b._time);
    trim();
    save();
    store._del(key('q', id));
    store._del(key('h', id));
    if (count) {
      log('adopted', count);
      onAdopt();
    }
  };

  /** @param {string} id */
  const claim = (id) => {
    const mark = env._now() + '@' + tab;
    store._set(key('h', id), mark);
    claims.add(id);
    env._setTimeout(() => {
      claims.delete(id);
      try {
        if (store._get(key('h', id)) === mark) adopt(id);
      } catch (e) { /* never throw from a timer into the page */ }
    }, CLAIM_WAIT_MS);
  };

  const scan = () => {
    const queuePrefix = prefix + 'q.';
    for (const k of store._keys(queuePrefix)) {
      const id = k.slice(queuePrefix.length);
      if (id === tab || claims.has(id)) continue;
      const [time, claimer] = (store._get(key('h', id)) || '0').split('@');
      const age = env._now() - (+time || 0);
      if (age > (claimer ? CLAIM_TIMEOUT_MS : STALE_MS)) claim(id);
    }
  };

  const outbox = {
    /** @param {Entry} entry */
    _add(entry) {
      list.push(entry);
      trim();
    },
    /** @param {number} maxCount @param {number} maxBytesPerBatch */
    _take(maxCount, maxBytesPerBatch) {
      trim();
      /** @type {Entry[]} */
      const batch = [];
      if (sealed) return batch;
      let bytes = 0;
      for (const e of list) {
        if (batch.length >= maxCount || (batch.length && bytes + e._bytes > maxBytesPerBatch)) break;
        if (e._sending) continue;
        e._sending = true;
        bytes += e._bytes + 1;
        batch.push(e);
      }
      return batch;
    },
    /** @param {Entry[]} batch @param {boolean} delivered */
    _done(batch, delivered) {
      list = list.filter((e) => !batch.includes(e));
      if (delivered) save();
      else {
        // To the back: an event the server keeps failing on must not hold up the ones behind it.
        for (const e of batch) e._sending = false;
        list.push(...batch);
      }
    },
    _size: () => list.length,
    _save: save,
    _clear() {
      list = [];
      save();
    },
    _close() {
      sealed = true;
      if (beat) store._set(key('h', tab), (beat = '0'));
    },
    _tick() {
      checkOwnership();
      if (beat && beat !== '0') store._set(key('h', tab), (beat = '' + env._now()));
      else if (list.length) save();
      scan();
    },
  };
  env._setInterval(() => { try { outbox._tick(); } catch (e) { /* see above */ } }, HEARTBEAT_MS);
  return outbox;
}
