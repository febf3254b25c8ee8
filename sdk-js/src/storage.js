/**
 * A key-value store that never throws. Writes go to localStorage while the store is persistent,
 * and to memory otherwise: with `persistence: 'memory'`, while consent is pending, after refusal,
 * or when localStorage is unavailable. Reads fall back from memory to localStorage.
 */

/** @import { RawStorage } from './env.js' */

/**
 * @typedef {object} Store
 * @property {(key: string) => string | null} _get
 * @property {(key: string, value: string, force?: boolean) => boolean} _set false when the value
 *   could only be kept in memory (quota exceeded, storage unavailable)
 * @property {(key: string) => void} _del removes the key everywhere
 * @property {(prefix: string) => string[]} _keys localStorage's keys while persistent, else memory's
 * @property {(on: boolean) => void} _persist switches persistence; switching on moves memory to localStorage
 */

/**
 * @param {RawStorage | null} ls
 * @param {boolean} persistent
 * @returns {Store}
 */
export function createStore(ls, persistent) {
  /** @type {Map<string, string>} */
  const memory = new Map();

  /** @param {string} key @param {string} value */
  const write = (key, value) => {
    try {
      /** @type {RawStorage} */ (ls)._set(key, value);
      memory.delete(key);
      return true;
    } catch (e) {
      // Quota exceeded or storage revoked: keep the value in memory, report it to the caller.
      memory.set(key, value);
      return false;
    }
  };

  return {
    _get(key) {
      const value = memory.get(key);
      if (value != null) return value;
      try {
        return ls ? ls._get(key) : null;
      } catch (e) {
        return null;
      }
    },
    _set(key, value, force) {
      if (ls && (persistent || force)) return write(key, value);
      memory.set(key, value);
      return true;
    },
    _del(key) {
      memory.delete(key);
      try {
        if (ls) ls._del(key);
      } catch (e) { /* storage revoked: nothing left to remove */ }
    },
    _keys(prefix) {
      /** @type {string[]} */
      let keys = [...memory.keys()];
      try {
        // Persistent: what memory holds then is only what localStorage refused, none of it shared.
        if (ls && persistent) keys = ls._keys();
      } catch (e) { /* storage revoked */ }
      return keys.filter((k) => k.startsWith(prefix));
    },
    _persist(on) {
      persistent = on;
      if (on && ls) memory.forEach((value, key) => write(key, value));
    },
  };
}
