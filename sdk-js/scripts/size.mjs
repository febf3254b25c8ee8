// The size budgets, enforced: exits non-zero when a built file is over its budget.
// Run after `npm run build` (npm test does both).
import { readFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const dist = new URL('../dist/', import.meta.url);
const read = (/** @type {string} */ name) => readFileSync(new URL(name, dist));
const gzip = (/** @type {Buffer} */ bytes) => gzipSync(bytes, { level: 9 }).length;
const brotli = (/** @type {Buffer} */ bytes) => brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;

/** What is measured, how, and its budget in bytes. */
const budgets = [
  { file: 'snippet.min.js', measure: 'minified', size: (/** @type {Buffer} */ b) => b.length, budget: 600 },
  { file: 'cxloop.min.js', measure: 'gzip -9', size: gzip, budget: 5 * 1024 },
  { file: 'cxloop-surveys.min.js', measure: 'gzip -9', size: gzip, budget: 10 * 1024 },
];

let failed = false;
for (const { file, measure, size, budget } of budgets) {
  const bytes = read(file);
  const actual = size(bytes);
  const over = actual > budget;
  failed ||= over;
  console.log(`${over ? 'FAIL' : 'ok  '} ${file.padEnd(21)} ${String(actual).padStart(6)} B ${measure.padEnd(9)} (budget ${budget} B, ${budget - actual} B left)` +
    `  [raw ${bytes.length} B, gzip ${gzip(bytes)} B, brotli ${brotli(bytes)} B]`);
}
const esm = read('cxloop.esm.js');
console.log(`info cxloop.esm.js           ${String(gzip(esm)).padStart(6)} B gzip -9   [raw ${esm.length} B]`);
if (failed) {
  console.error('\nA size budget is exceeded. Make the code smaller, or move the feature out of the core bundle.');
  process.exit(1);
}
