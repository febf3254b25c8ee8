// The console builds its DOM only through h(): no API that parses a string as markup or code
// appears in its sources (the XSS browser test checks the result; this keeps the door shut).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SRC = new URL('../../src/', import.meta.url).pathname;
const FORBIDDEN = [/\.innerHTML\b/, /\.outerHTML\b/, /insertAdjacentHTML/, /document\.write/, /\beval\(/, /new Function\(/, /setAttribute\(\s*['"]style['"]/, /\.cssText\b/, /createContextualFragment/, /DOMParser/, /srcdoc/];

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.js') ? [path] : [];
  });
}

test('no source parses strings as markup or code, or sets inline style attributes', () => {
  const found = [];
  for (const file of files(SRC)) {
    readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      if (line.trim().startsWith('//')) return;
      for (const pattern of FORBIDDEN) if (pattern.test(line)) found.push(`${file.slice(SRC.length)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, []);
});
