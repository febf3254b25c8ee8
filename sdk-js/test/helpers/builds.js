// The same behaviour tests run against the source and against the shipped minified IIFE
// (dist/cxloop.min.js, run in a vm context whose global object is the fake window).
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import { boot } from '../../src/boot.js';

const minified = new URL('../../dist/cxloop.min.js', import.meta.url);

/** @typedef {{ name: string, load: (win: any) => any }} Build */

/** @type {Build[]} */
export const builds = [
  {
    name: 'source',
    load(win) {
      boot(win);
      return win.cxloop;
    },
  },
  {
    name: 'minified',
    load(win) {
      const code = readFileSync(minified, 'utf8');
      vm.createContext(win);
      vm.runInContext(code, win, { filename: 'cxloop.min.js' });
      return win.cxloop;
    },
  },
];
