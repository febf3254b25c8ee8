// `npm run test:browser`: starts one demo stack for every browser test file — `cxloop demo
// --accounts 40 --days 60 --json` on a free port in a temporary data directory (a real server, its
// embedded PostgreSQL, the pipeline, the simulated portfolio) — runs the files one after the other
// against it, then stops it. With CONSOLE_STACK=<stack.json> set (or a stack already running from
// `node test/browser/run.mjs --keep`), it reuses that stack instead. Arguments are test files.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));
const consoleDir = resolve(here, '..', '..');
const repo = resolve(consoleDir, '..');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const files = args.filter((a) => !a.startsWith('--'));

/** Starts the demo stack; resolves with its JSON description and the process. */
export async function startStack({ accounts = 40, days = 60 } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'cxloop-console-'));
  const bin = process.env.CXLOOP_BIN || join(repo, '.venv', 'bin', 'cxloop');
  const child = spawn(bin, ['demo', '--accounts', String(accounts), '--days', String(days), '--port', '0', '--json'], {
    env: { ...process.env, CXLOOP_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: /** @type {any} */ (child.stdout) });
  const stack = await new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error('cxloop demo did not print its JSON line within 600 s')), 600_000);
    child.on('exit', (code) => reject(new Error(`cxloop demo exited with ${code} before it was ready`)));
    lines.on('line', (line) => {
      if (!line.startsWith('{')) return;
      try {
        const value = JSON.parse(line);
        if (value.console_url) {
          clearTimeout(timer);
          resolvePromise(value);
        }
      } catch { /* a line of the human output */ }
    });
  });
  return { stack: { ...stack, data_dir: dataDir }, stop: () => new Promise((done) => { child.once('exit', () => { rmSync(dataDir, { recursive: true, force: true }); done(undefined); }); child.kill('SIGTERM'); }) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let stop = async () => {};
  let stackFile = process.env.CONSOLE_STACK;
  if (!stackFile) {
    const started = Date.now();
    const running = await startStack();
    stop = running.stop;
    // A file per run: two runs at once (or a kept stack) never read each other's stack.
    stackFile = join(mkdtempSync(join(tmpdir(), 'cxloop-console-stack-')), 'stack.json');
    writeFileSync(stackFile, JSON.stringify(running.stack, null, 2));
    console.log(`demo stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${running.stack.console_url} (${stackFile})`);
  }
  const tests = files.length ? files : readdirSync(here).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => join(here, f));
  let code = 0;
  if (!keep || files.length) {
    code = await new Promise((done) => {
      const child = spawn(process.execPath, ['--test', '--test-concurrency=1', ...tests], { stdio: 'inherit', env: { ...process.env, CONSOLE_STACK: stackFile } });
      child.on('exit', (c) => done(c ?? 1));
    });
  }
  if (keep) {
    console.log(`stack kept running: CONSOLE_STACK=${stackFile} node --test test/browser/<file>; Ctrl-C stops it`);
    await new Promise((done) => process.on('SIGINT', done));
  }
  await stop();
  process.exit(code);
}
