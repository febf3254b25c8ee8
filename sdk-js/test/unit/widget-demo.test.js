// The demo app (../widget-demo/): every page has the current snippet, pasted as a vendor would,
// with the placeholders the server fills in. (test/browser/surveys.test.mjs clicks through it.)
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, test } from 'node:test';

const demo = new URL('../../../widget-demo/', import.meta.url);
const snippet = readFileSync(new URL('../../dist/snippet.min.js', import.meta.url), 'utf8').trim();
const pasted = snippet.replace('"https://CXLOOP_HOST"', '"__CXLOOP_HOST__"').replace('"WRITE_KEY"', '"__CXLOOP_WRITE_KEY__"');
const pages = readdirSync(demo).filter((name) => name.endsWith('.html')).sort();

describe('widget-demo', () => {
  test('has the four pages of the app', () => {
    assert.deepEqual(pages, ['exports.html', 'index.html', 'reports.html', 'settings.html']);
  });

  for (const name of pages) {
    test(`${name} has the current snippet in <head>, before the app's script`, () => {
      const html = readFileSync(new URL(name, demo), 'utf8');
      assert.notEqual(pasted, snippet, 'the snippet no longer has the host and key arguments');
      assert.equal(html.split(pasted).length, 2, `widget-demo/${name} has an outdated snippet: run \`npm run readme\``);
      const head = html.slice(0, html.indexOf('</head>'));
      assert.ok(head.indexOf(pasted) >= 0 && head.indexOf(pasted) < head.indexOf('assets/app.js'));
      assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handler');
      for (const [, href] of html.matchAll(/href="([^"]+)"/g)) assert.doesNotMatch(href, /^\//, `${href}: links stay relative, the app is served under /demo/`);
    });
  }

  test('the app script takes the host and write key from the same placeholders', () => {
    const app = readFileSync(new URL('assets/app.js', demo), 'utf8');
    assert.match(app, /'__CXLOOP_HOST__'/);
    assert.match(app, /'__CXLOOP_WRITE_KEY__'/);
    assert.match(app, /cxloop\.track\('Report Exported'/, 'the event the demo CSAT is triggered by');
  });
});
