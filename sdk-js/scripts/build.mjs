// Builds dist/: the IIFE for the snippet (cxloop.min.js), the surveys bundle the core loads when a
// survey is due (cxloop-surveys.min.js), the ES module (cxloop.esm.js), the minified snippet
// (snippet.min.js) and the SRI hashes (integrity.json).
//
// esbuild bundles and minifies; the two IIFEs then get a terser pass, which saves about 4% of
// the core's gzip size over esbuild's minifier alone.
// Private `_names` are mangled to short names. mangle-cache.json pins the names across builds
// and is the checked-in reserved list: a property mapped to `false` there is never mangled. The
// core and the surveys bundle share it, so the names of the plug between them agree.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { minify } from 'terser';

const root = fileURLToPath(new URL('..', import.meta.url));
const cachePath = root + 'mangle-cache.json';
const mangleCache = JSON.parse(await readFile(cachePath, 'utf8'));
const pkg = JSON.parse(await readFile(root + 'package.json', 'utf8'));
const banner = `/*! cxloop ${pkg.version} MIT */`;

/** @type {import('esbuild').BuildOptions} */
const common = {
  absWorkingDir: root,
  bundle: true,
  minify: true,
  target: 'es2018',
  mangleProps: /^_/,
  legalComments: 'none',
  // Not jsconfig.json: its `strict` (for tsc) would make esbuild prepend "use strict" for nothing.
  tsconfigRaw: '{}',
  write: false,
};

/** @param {import('esbuild').BuildResult} result */
const text = (result) => /** @type {import('esbuild').OutputFile[]} */ (result.outputFiles)[0].text;
/** A terser pass (safe compress options only) over an IIFE esbuild has minified. */
const squeeze = async (/** @type {string} */ code) => banner + '\n' + /** @type {string} */ ((await minify(code, { ecma: 2018, compress: true, mangle: true })).code) + '\n';

const iife = await esbuild.build({ ...common, entryPoints: ['src/browser.js'], format: 'iife', mangleCache });
const surveysBuild = await esbuild.build({ ...common, entryPoints: ['src/surveys/browser.js'], format: 'iife', mangleCache: iife.mangleCache });
const esm = await esbuild.build({ ...common, entryPoints: ['src/index.js'], format: 'esm', mangleCache: surveysBuild.mangleCache, banner: { js: banner } });
const snippet = await esbuild.transform(await readFile(root + 'src/snippet.js', 'utf8'), {
  minify: true,
  target: 'es5',
  legalComments: 'none',
});

await mkdir(root + 'dist', { recursive: true });
const core = await squeeze(text(iife));
const surveys = await squeeze(text(surveysBuild));
await writeFile(root + 'dist/cxloop.min.js', core);
await writeFile(root + 'dist/cxloop-surveys.min.js', surveys);
await writeFile(root + 'dist/cxloop.esm.js', text(esm));
await writeFile(root + 'dist/snippet.min.js', snippet.code.trim());
const sri = (/** @type {string} */ code) => 'sha384-' + createHash('sha384').update(code).digest('base64');
const integrity = { version: pkg.version, 'cxloop.min.js': sri(core), 'cxloop-surveys.min.js': sri(surveys) };
await writeFile(root + 'dist/integrity.json', JSON.stringify(integrity, null, 2) + '\n');

const sorted = Object.fromEntries(Object.entries(esm.mangleCache || {}).sort(([a], [b]) => a.localeCompare(b)));
const cacheText = JSON.stringify(sorted, null, 2) + '\n';
if (cacheText !== JSON.stringify(mangleCache, null, 2) + '\n') await writeFile(cachePath, cacheText);
console.log('built dist/cxloop.min.js, dist/cxloop-surveys.min.js, dist/cxloop.esm.js, dist/snippet.min.js, dist/integrity.json');
