/** Privacy: browser privacy signals, opt-out, consent, and the one predicate that combines them. */

/**
 * Do Not Track or Global Privacy Control is on. Honoured only when the vendor sets
 * `respectDoNotTrack`.
 * @param {any} win
 */
export function privacySignal(win) {
  const nav = win.navigator;
  // msDoNotTrack and the value 'yes' were IE's and Firefox < 32's: neither runs this ES2018 build.
  return nav.globalPrivacyControl === true || [nav.doNotTrack, win.doNotTrack].includes('1');
}

/**
 * Consent: `true` given (or not required), `false` refused, `null` still pending.
 * @typedef {boolean | null} Consent
 */

/**
 * Why nothing may be captured now, or '' when tracking is allowed. Pending consent is not a reason:
 * events are held in memory until the answer comes.
 * @param {boolean} optedOut
 * @param {boolean} signal DNT/GPC honoured and set
 * @param {Consent} consent
 */
export function trackingDisabled(optedOut, signal, consent) {
  return optedOut ? 'opted out' : signal ? 'DNT/GPC' : consent === false ? 'no consent' : '';
}
