/*
 * The loader snippet vendors paste into their pages (dist/snippet.min.js is this file minified).
 * It defines a stub `cxloop` that records every call with its time, then loads the SDK
 * asynchronously; the SDK replays the recorded calls in order. The arguments at the bottom are
 * the cxloop host, the project's write key and, optionally, the SRI hash of a versioned SDK URL.
 * Under a Content-Security-Policy with nonces, give this script tag a nonce: the SDK's script tag
 * inherits it.
 */
// @ts-check: `w` is any because the stub is an array that grows methods.
(function (/** @type {any} */ w, /** @type {Document} */ d, /** @type {string} */ host, /** @type {string} */ key, /** @type {[string, string] | undefined} */ integrity) {
  var c = (w.cxloop = w.cxloop || []);
  if (c.init) return; // pasted twice, or the SDK is already loaded
  'init identify group track page feature reset optOut optIn consent flush ready survey'.split(' ').forEach(function (m) {
    c[m] = function () {
      c.push([m, arguments, Date.now()]);
    };
  });
  var s = d.createElement('script');
  s.async = true;
  s.src = integrity ? host + '/sdk/' + integrity[0] + '/cxloop.min.js' : host + '/sdk/v1/cxloop.min.js';
  if (integrity) {
    s.integrity = integrity[1];
    s.crossOrigin = 'anonymous';
  }
  s.nonce = (d.currentScript || s).nonce;
  d.head.appendChild(s);
  c.init(key);
})(window, document, 'https://CXLOOP_HOST', 'WRITE_KEY');
