/** The IIFE entry, dist/cxloop.min.js: the SDK the snippet loads. */

import { boot } from './boot.js';

try {
  boot(window);
} catch (e) { /* never throw into the page: without the SDK, the stub only records calls */ }
