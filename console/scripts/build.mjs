// Builds the console into backend/cxloop/console/static/: one JavaScript and one CSS file, each
// named by the sha256 of its content (cache-busted: served with `immutable`), and manifest.json
// mapping the logical names to them with their raw and gzip sizes. The output is committed, so
// `make run` needs no Node; `npm run check-build` (part of `npm test`) fails when the committed
// files are not what the sources build to.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const target = join(root, '..', 'backend', 'cxloop', 'console', 'static');
const check = process.argv.includes('--check');

async function bundle(entry, loader) {
  const result = await build({
    entryPoints: [join(root, 'src', entry)],
    bundle: true,
    minify: true,
    format: loader === 'js' ? 'esm' : undefined,
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    legalComments: 'none',
    write: false,
    charset: 'utf8',
    logLevel: 'error',
  });
  return result.outputFiles[0].contents;
}

const files = { 'console.js': await bundle('main.js', 'js'), 'console.css': await bundle('console.css', 'css') };
const manifest = { files: {}, sizes: {} };
const out = {};
for (const [name, body] of Object.entries(files)) {
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  const hashed = name.replace('.', `.${hash}.`);
  manifest.files[name] = hashed;
  manifest.sizes[name] = { bytes: body.length, gzip: gzipSync(body, { level: 9 }).length };
  out[hashed] = body;
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
  console.log(`console.js ${s['console.js'].bytes} B (${s['console.js'].gzip} B gzip), console.css ${s['console.css'].bytes} B (${s['console.css'].gzip} B gzip)`);
}
