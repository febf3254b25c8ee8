// Builds the console into backend/cxloop/console/static/: the JavaScript (an entry and chunks) and
// the CSS, each named by a hash of its content (cache-busted: served with `immutable`), and
// manifest.json naming them with their raw and gzip sizes. The output is committed, so
// `make run` needs no Node; `npm run check-build` (part of `npm test`) fails when the committed
// files are not what the sources build to.
import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const target = join(root, '..', 'backend', 'cxloop', 'console', 'static');
const check = process.argv.includes('--check');

// The JavaScript: the shell's entry plus one chunk per page (loaded when a page is first opened)
// and the chunks pages share (uPlot, components). esbuild names each file by a hash of its content
// and of the files it imports, so a changed file gets a new name and everything else stays cached.
const js = await build({
  entryPoints: { console: join(root, 'src', 'main.js') },
  bundle: true,
  splitting: true,
  format: 'esm',
  minify: true,
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  legalComments: 'none',
  outdir: '/out',
  entryNames: '[name].[hash]',
  chunkNames: 'chunk.[hash]',
  metafile: true,
  write: false,
  charset: 'utf8',
  logLevel: 'error',
});
const css = await build({
  entryPoints: { console: join(root, 'src', 'console.css') },
  bundle: true,
  minify: true,
  legalComments: 'none',
  outdir: '/out',
  entryNames: '[name].[hash]',
  write: false,
  charset: 'utf8',
  logLevel: 'error',
});
const manifest = { files: {}, chunks: [], preload: [], pages: {}, sizes: {}, total: { bytes: 0, gzip: 0 } };
const out = {};
for (const file of [...js.outputFiles, ...css.outputFiles]) {
  const name = basename(file.path);
  out[name] = file.contents;
  const size = { bytes: file.contents.length, gzip: gzipSync(file.contents, { level: 9 }).length };
  manifest.sizes[name] = size;
  if (name.endsWith('.js')) {
    manifest.total.bytes += size.bytes;
    manifest.total.gzip += size.gzip;
  }
  if (name.startsWith('console.')) manifest.files[name.endsWith('.js') ? 'console.js' : 'console.css'] = name;
  else manifest.chunks.push(name);
}
// Chunks the entry imports statically: the shell preloads them (no waterfall on first load).
const entry = Object.entries(js.metafile.outputs).find(([, o]) => o.entryPoint);
manifest.preload = entry ? entry[1].imports.filter((i) => i.kind === 'import-statement').map((i) => basename(i.path)).sort() : [];
manifest.chunks.sort();
// Each page's chunk and the chunks it imports statically (transitively), for the shell to preload
// on a first visit to that page.
const outputs = js.metafile.outputs;
const closure = (/** @type {string} */ path, /** @type {Set<string>} */ seen = new Set()) => {
  if (seen.has(path)) return seen;
  seen.add(path);
  for (const i of outputs[path].imports) if (i.kind === 'import-statement') closure(i.path, seen);
  return seen;
};
for (const [path, output] of Object.entries(outputs)) {
  const page = output.entryPoint && /src\/pages\/(\w+)\.js$/.exec(output.entryPoint);
  if (page) manifest.pages[page[1]] = [...closure(path)].map((p) => basename(p)).filter((n) => !manifest.preload.includes(n)).sort();
}
out['manifest.json'] = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');

if (check) {
  const committed = new Set(readdirSync(target));
  const problems = [];
  for (const [name, body] of Object.entries(out)) {
    if (!committed.has(name)) problems.push(`missing ${name}`);
    else if (!readFileSync(join(target, name)).equals(Buffer.from(body))) problems.push(`differs ${name}`);
  }
  for (const name of committed) if (!(name in out)) problems.push(`stale ${name}`);
  if (problems.length) {
    console.error(`backend/cxloop/console/static is not what console/src builds to (${problems.join(', ')}): run \`npm run build\` in console/ and commit the result`);
    process.exit(1);
  }
  console.log('console build: committed files match the sources');
} else {
  mkdirSync(target, { recursive: true });
  for (const name of readdirSync(target)) rmSync(join(target, name));
  for (const [name, body] of Object.entries(out)) writeFileSync(join(target, name), body);
  const s = manifest.sizes;
  const first = [manifest.files['console.js'], ...manifest.preload].reduce((sum, n) => [sum[0] + s[n].bytes, sum[1] + s[n].gzip], [0, 0]);
  console.log(`JavaScript: ${manifest.total.bytes} B (${manifest.total.gzip} B gzip) in ${1 + manifest.chunks.length} files; the shell loads ${first[0]} B (${first[1]} B gzip) before a page's own chunk; console.css ${s[manifest.files['console.css']].bytes} B (${s[manifest.files['console.css']].gzip} B gzip)`);
}
