// The real cxloop server as a test fixture: a fresh data directory, one project, `cxloop serve`
// in its own process group (embedded PostgreSQL unless DATABASE_URL is set), serving this
// checkout's dist/, and a reader for what landed in its Parquet lake.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const dist = fileURLToPath(new URL('../../dist/', import.meta.url));
export const PYTHON = process.env.CXLOOP_PYTHON || join(repo, '.venv/bin/python');

// One long-lived Python process answers each input line with the lake as one JSON line: a
// pyarrow import per poll would cost more than the poll interval.
const LAKE_READER = `
import json, os, sys
import pyarrow.dataset as ds
root = sys.argv[1]
COLUMNS = {
    "events": ["message_id", "type", "event", "name", "user_id", "anonymous_id", "group_id",
               "timestamp", "properties", "traits", "context"],
    "failed": ["message_id", "type", "failure_reason", "failure_detail", "raw"],
}
def read(store):
    path = os.path.join(root, store)
    if not os.path.isdir(path):
        return []
    dataset = ds.dataset(path, format="parquet", partitioning="hive")
    # Partition directories exist before their first file is renamed into place.
    if not dataset.files:
        return []
    return dataset.to_table(columns=COLUMNS[store]).to_pylist()
for _ in sys.stdin:
    try:
        answer = {"events": read("events"), "failed": read("failed")}
    except Exception as exc:
        answer = {"error": repr(exc)}
    print(json.dumps(answer, default=str), flush=True)
`;

/**
 * @typedef {{ message_id: string, type: string, event: string | null, name: string | null,
 *   user_id: string | null, anonymous_id: string | null, group_id: string | null, timestamp: string,
 *   properties: any, traits: any, context: any }} LakeEvent
 * @typedef {{ message_id: string, type: string | null, failure_reason: string,
 *   failure_detail: string | null, raw: string | null }} FailedEvent
 * @typedef {{ events: LakeEvent[], failed: FailedEvent[] }} Lake
 */

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `python -m cxloop.cli ...`, with a clear error that says what to do when it fails. */
function cli(/** @type {string[]} */ args, /** @type {NodeJS.ProcessEnv} */ env) {
  if (!existsSync(PYTHON)) {
    throw new Error(`no Python at ${PYTHON}: run \`make install\` in ${repo}, or set CXLOOP_PYTHON`);
  }
  const run = spawnSync(PYTHON, ['-m', 'cxloop.cli', ...args], { env, encoding: 'utf8', timeout: 60000 });
  if (run.status !== 0) {
    throw new Error(`cxloop ${args.join(' ')} failed (${run.error || 'exit ' + run.status}):\n${run.stderr}${run.stdout}`);
  }
  return run.stdout;
}

export async function startBackend() {
  const dataDir = mkdtempSync(join(tmpdir(), 'cxloop-browser-'));
  const env = {
    ...process.env,
    CXLOOP_DATA_DIR: dataDir,
    CXLOOP_SDK_DIR: dist,
    CXLOOP_PORT: '0',
    // A fresh lake within a fraction of a second of the ack.
    CXLOOP_WAL_SEGMENT_MAX_AGE_S: '0.2',
    CXLOOP_PIPELINE_POLL_S: '0.05',
    CXLOOP_MIN_FREE_BYTES: '0',
  };
  /** @type {{ id: string, write_key: string }} */
  const project = JSON.parse(cli(['projects', 'create', 'browser-tests', '--json'], env));
  // A project of its own for the survey tests, so that its active surveys touch no other test.
  /** @type {{ id: string, write_key: string, secret_key: string }} */
  const surveysProject = JSON.parse(cli(['projects', 'create', 'browser-tests-surveys', '--json'], env));

  const logPath = join(dataDir, 'serve.log');
  const log = openSync(logPath, 'a');
  const serve = spawn(PYTHON, ['-m', 'cxloop.cli', 'serve'], { env, detached: true, stdio: ['ignore', log, log] });
  const exited = new Promise((resolve) => serve.once('exit', resolve));
  const pid = /** @type {number} */ (serve.pid);
  // Should node die without `stop()`, do not leave a server (and its PostgreSQL) behind.
  const killOnExit = () => { try { process.kill(-pid, 'SIGKILL'); } catch {} };
  process.on('exit', killOnExit);
  const logTail = (lines = 25) => readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');

  /** @type {string} */
  let url = '';
  const statePath = join(dataDir, 'state', 'serve.json');
  const deadline = Date.now() + 60000;
  for (;;) {
    if (serve.exitCode !== null) throw new Error(`cxloop serve exited with ${serve.exitCode} while starting:\n${logTail()}`);
    if (Date.now() > deadline) {
      killOnExit();
      throw new Error(`cxloop serve was not ready within 60 s (${statePath}, GET /readyz):\n${logTail()}`);
    }
    if (!url && existsSync(statePath)) {
      try { url = JSON.parse(readFileSync(statePath, 'utf8')).url; } catch { /* being written */ }
    }
    if (url && (await fetch(url + '/readyz').then((r) => r.status, () => 0)) === 200) break;
    await sleep(100);
  }

  const reader = spawn(PYTHON, ['-c', LAKE_READER, join(dataDir, 'lake')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: /** @type {import('node:stream').Readable} */ (reader.stdout) })[Symbol.asyncIterator]();
  let reading = Promise.resolve();

  return {
    url,
    dataDir,
    projectId: project.id,
    writeKey: project.write_key,
    surveysProject,
    /** Everything in the lake now (`properties`, `traits`, `context` parsed). @returns {Promise<Lake>} */
    lake() {
      const answer = reading.then(async () => {
        /** @type {NodeJS.WritableStream} */ (reader.stdin).write('read\n');
        const { value, done } = await lines.next();
        if (done) throw new Error('the lake reader exited; is pyarrow installed in ' + PYTHON + '?');
        const lake = JSON.parse(value);
        if (lake.error) throw new Error('reading the lake failed: ' + lake.error);
        for (const event of lake.events) {
          for (const key of ['properties', 'traits', 'context']) event[key] = event[key] == null ? null : JSON.parse(event[key]);
        }
        return /** @type {Lake} */ (lake);
      });
      reading = answer.then(() => undefined, () => undefined);
      return answer;
    },
    logTail,
    async stop() {
      reader.stdin?.end();
      try { process.kill(-pid, 'SIGTERM'); } catch {}
      /** @type {NodeJS.Timeout | undefined} */
      let timer;
      const stopped = await Promise.race([exited.then(() => true), new Promise((resolve) => { timer = setTimeout(resolve, 30000, false); })]);
      clearTimeout(timer);
      if (!stopped) killOnExit();
      process.off('exit', killOnExit);
      rmSync(dataDir, { recursive: true, force: true });
      if (!stopped) throw new Error('cxloop serve did not stop within 30 s of SIGTERM');
    },
  };
}
