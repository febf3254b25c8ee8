// The package as published: metadata, the ES module build, the typings, the README snippet.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { VERSION } from '../../src/version.js';
import { fakeWindow } from '../helpers/fake-browser.js';

const root = new URL('../../', import.meta.url);
const read = (/** @type {string} */ path) => readFileSync(new URL(path, root), 'utf8');
const pkg = JSON.parse(read('package.json'));

describe('package', () => {
  test('version is the same everywhere', () => {
    assert.equal(VERSION, pkg.version);
    assert.match(read('CHANGELOG.md'), new RegExp(`## \\[${pkg.version.replace(/\./g, '\\.')}\\]`));
    assert.equal(JSON.parse(read('dist/integrity.json')).version, pkg.version);
  });

  test('every published file exists after the build', () => {
    for (const file of pkg.files) assert.ok(existsSync(new URL(file, root)), file);
    assert.equal(pkg.name, '@cxloop/sdk');
    assert.equal(pkg.types, './index.d.ts');
    assert.equal(pkg.exports['.'].import, './dist/cxloop.esm.js');
  });

  test('the ES module build imports without a browser (SSR) and works with one', async () => {
    const mod = await import(new URL('dist/cxloop.esm.js', root).href);
    assert.equal(mod.VERSION, pkg.version);
    assert.doesNotThrow(() => mod.cxloop.init('wk')); // no document: a no-op
    const win = fakeWindow();
    const cx = mod.createCxloop(win);
    cx.init('wk', { host: 'https://cx.example.com', autoPage: false });
    cx.track('from esm');
    await win._test.clock.advance(2000);
    assert.equal(win._test.network.events()[0].event, 'from esm');
  });

  test('index.d.ts declares exactly the methods the SDK has', async () => {
    const dts = read('index.d.ts');
    const declared = new Set([...dts.matchAll(/^ {2}(\w+)\(/gm)].map((m) => m[1]));
    const { createCxloop } = await import('../../src/index.js');
    const cx = createCxloop(fakeWindow());
    const actual = new Set(Object.keys(cx).filter((k) => typeof cx[k] === 'function' && !k.startsWith('_')));
    assert.deepEqual([...declared].sort(), [...actual].sort());
  });

  test('the README shows the current snippet and the SRI hash of the current build', () => {
    const readme = read('README.md');
    const snippet = read('dist/snippet.min.js');
    assert.ok(readme.includes(snippet), 'README.md has an outdated snippet: run `npm run readme`');
    const { 'cxloop.min.js': sri } = JSON.parse(read('dist/integrity.json'));
    assert.ok(readme.includes(sri), 'README.md has an outdated SRI hash: run `npm run readme`');
  });

  test('the mangle cache reserves no public name', () => {
    const cache = JSON.parse(read('mangle-cache.json'));
    for (const name of Object.keys(cache)) assert.ok(name.startsWith('_'), name);
  });
});
