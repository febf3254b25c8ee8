// Writes the current snippet and SRI hash into README.md, between the `<!-- name:start -->` and
// `<!-- name:end -->` markers, and the snippet into the pages of ../widget-demo/ (with the
// placeholders the server fills in). Run after `npm run build`; unit tests fail while either is stale.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const read = (/** @type {string} */ path) => readFileSync(new URL(path, root), 'utf8');
const snippet = read('dist/snippet.min.js').trim();
const { version, 'cxloop.min.js': sri } = JSON.parse(read('dist/integrity.json'));
const pinned = snippet.replace(/"WRITE_KEY"\);$/, `"WRITE_KEY",["${version}","${sri}"]);`);
if (pinned === snippet) throw new Error('the snippet no longer ends with "WRITE_KEY"); update scripts/readme.mjs');

/** @type {Record<string, string>} */
const blocks = {
  snippet: '```html\n<script>\n' + snippet + '\n</script>\n```',
  pinned: '```html\n<script>\n' + pinned + '\n</script>\n```',
  tag: '```html\n<script async src="https://CXLOOP_HOST/sdk/' + version + '/cxloop.min.js"\n  integrity="' + sri + '" crossorigin="anonymous"\n  data-write-key="WRITE_KEY"></script>\n```',
};

let readme = read('README.md');
for (const [name, block] of Object.entries(blocks)) {
  const pattern = new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(\\n<!-- ${name}:end -->)`);
  if (!pattern.test(readme)) throw new Error(`README.md lacks the ${name} markers`);
  readme = readme.replace(pattern, (_, start, end) => start + block + end);
}
writeFileSync(new URL('README.md', root), readme);
console.log('README.md: snippet and SRI for', version);

const demo = new URL('../widget-demo/', root);
if (existsSync(demo)) {
  const pasted = demoSnippet(snippet);
  for (const name of readdirSync(demo).filter((n) => n.endsWith('.html'))) {
    const page = readFileSync(new URL(name, demo), 'utf8');
    const updated = page.replace(/(<!-- cxloop snippet[^\n]*\n<script>\n)[^\n]*(\n<\/script>)/, (_, start, end) => start + pasted + end);
    if (updated === page && !page.includes(pasted)) throw new Error(`widget-demo/${name} lacks the <!-- cxloop snippet --> block`);
    if (updated !== page) writeFileSync(new URL(name, demo), updated);
  }
  console.log('widget-demo: snippet refreshed');
}

/** The snippet as the demo pastes it: the server fills in the host and write key. */
function demoSnippet(/** @type {string} */ text) {
  return text.replace('"https://CXLOOP_HOST"', '"__CXLOOP_HOST__"').replace('"WRITE_KEY"', '"__CXLOOP_WRITE_KEY__"');
}
