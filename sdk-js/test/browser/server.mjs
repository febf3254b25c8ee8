// A tiny HTTP server on 127.0.0.1 for the browser tests and the benchmark: it serves the built SDK
// and test pages, and acts as a recording ingest endpoint with the server's status-code contract
// (a test double, for answers the real server gives only under stress; real-backend.test.mjs
// runs the SDK against the real cxloop server):
//   200 {accepted, rejected: [{index, messageId, reason}]}   success (only exactly 200)
//   400 {code, message}   malformed JSON or no batch          not retried by the SDK
//   401 {code, message}   unknown write key                   not retried
//   413 {code, message}   over 500 KB a request               not retried (the SDK splits)
//   429 / 503 with Retry-After, 408                            retried
// Tests can script the next answers with `server.respond(...)`.
// It also serves the survey config as the backend does (GET /v1/sdk/config?writeKey=…: CORS *,
// `no-cache` with a strong ETag, 304 for If-None-Match), set with `server.setConfig(...)`, and the
// demo app (../widget-demo/) at /demo/ with its host and write key filled in, as the backend does.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const dist = new URL('../../dist/', import.meta.url);
const demo = new URL('../../../widget-demo/', import.meta.url);
const DEMO_TYPES = /** @type {Record<string, string>} */ ({ html: 'text/html', js: 'text/javascript', css: 'text/css' });
export const WRITE_KEY = 'wk_browser_test';
const MAX_REQUEST_BYTES = 500 * 1024;

/**
 * @typedef {{ at: number, method: string, path: string, contentType: string | undefined,
 *   fetchMode: string | undefined, body: any, status: number }} IngestRequest
 * @typedef {{ status: number, retryAfter?: string, body?: unknown }} ScriptedAnswer
 */

/** The snippet exactly as vendors paste it, pointed at `origin`. */
export function snippetFor(/** @type {string} */ origin, key = WRITE_KEY) {
  return readFileSync(new URL('snippet.min.js', dist), 'utf8')
    .replace('"https://CXLOOP_HOST"', JSON.stringify(origin))
    .replace('"WRITE_KEY"', JSON.stringify(key));
}

export async function startServer() {
  /** @type {IngestRequest[]} */
  const requests = [];
  /** @type {Map<string, { body: string, type: string, headers?: Record<string, string> }>} */
  const routes = new Map();
  /** @type {ScriptedAnswer[]} */
  let scripted = [];
  let sdkDelayMs = 0;
  const EMPTY_CONFIG = { cooldown_days: 14, snooze_days: 3, surveys: [] };
  /** @type {unknown} */
  let config = EMPTY_CONFIG;
  /** @type {{ at: number, writeKey: string | null, groupId: string | null, ifNoneMatch: string | undefined, status: number }[]} */
  const configRequests = [];
  /** Paths of the SDK files served (/sdk/<channel>/<file>). */
  /** @type {string[]} */
  const sdkRequests = [];

  const server = createServer((req, res) => {
    const url = new URL(req.url || '/', 'http://127.0.0.1');
    /** @type {Buffer[]} */
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      if (url.pathname === '/v1/batch') return ingest(req, res, raw);
      if (url.pathname === '/v1/sdk/config') return answerConfig(req, res, url);
      const sdkFile = /^\/sdk\/[^/]+\/(cxloop\.min\.js|cxloop-surveys\.min\.js)$/.exec(url.pathname);
      if (sdkFile) {
        sdkRequests.push(url.pathname);
        setTimeout(() => {
          res.writeHead(200, { 'Content-Type': 'text/javascript', 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-store' });
          res.end(readFileSync(new URL(sdkFile[1], dist)));
        }, sdkFile[1] === 'cxloop.min.js' ? sdkDelayMs : 0);
        return;
      }
      const demoFile = /^\/demo\/((?:assets\/)?[\w-]+\.(html|js|css))?$/.exec(url.pathname);
      if (demoFile && existsSync(new URL(demoFile[1] || 'index.html', demo))) {
        const body = readFileSync(new URL(demoFile[1] || 'index.html', demo), 'utf8')
          .replaceAll('__CXLOOP_HOST__', origin).replaceAll('__CXLOOP_WRITE_KEY__', WRITE_KEY);
        res.writeHead(200, { 'Content-Type': DEMO_TYPES[demoFile[2] || 'html'] + '; charset=utf-8', 'Cache-Control': 'no-cache' });
        return res.end(body);
      }
      if (url.pathname === '/favicon.ico') {
        res.writeHead(204);
        return res.end();
      }
      const route = routes.get(url.pathname);
      if (!route) {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        return res.end('not found');
      }
      res.writeHead(200, { 'Content-Type': route.type, 'Cache-Control': 'no-store', ...route.headers });
      res.end(route.body);
    });
  });

  /**
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   * @param {Buffer} raw
   */
  function ingest(req, res, raw) {
    const cors = { 'Access-Control-Allow-Origin': '*' };
    /** @param {number} status @param {unknown} payload @param {Record<string, string>} [headers] */
    const answer = (status, payload, headers = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...cors, ...headers });
      res.end(JSON.stringify(payload));
      return status;
    };
    /** @type {IngestRequest} */
    const record = {
      at: Date.now(),
      method: req.method || '',
      path: req.url || '',
      contentType: req.headers['content-type'],
      fetchMode: /** @type {string | undefined} */ (req.headers['sec-fetch-mode']),
      body: null,
      status: 0,
    };
    requests.push(record);
    if (req.method === 'OPTIONS') {
      record.status = 204;
      res.writeHead(204, { ...cors, 'Access-Control-Allow-Methods': 'POST', 'Access-Control-Allow-Headers': 'Content-Type, Authorization' });
      return res.end();
    }
    if (raw.length > MAX_REQUEST_BYTES) {
      record.status = answer(413, { code: 'request_too_large', message: 'A request may be at most 500 KB; send smaller batches.' });
      return;
    }
    let body;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      record.status = answer(400, { code: 'invalid_json', message: 'The body is not valid JSON.' });
      return;
    }
    record.body = body;
    if (!body || !Array.isArray(body.batch)) {
      record.status = answer(400, { code: 'invalid_batch', message: 'Expected {"batch": [...]}.' });
      return;
    }
    if (body.writeKey !== WRITE_KEY) {
      record.status = answer(401, { code: 'invalid_write_key', message: 'Unknown write key: copy it from the project settings into the snippet.' });
      return;
    }
    const next = scripted.shift();
    if (next) {
      record.status = answer(next.status, next.body ?? { code: 'scripted', message: 'scripted answer' }, next.retryAfter ? { 'Retry-After': next.retryAfter } : {});
      return;
    }
    /** @type {{ index: number, messageId: string, reason: string }[]} */
    const rejected = [];
    body.batch.forEach((/** @type {any} */ event, /** @type {number} */ index) => {
      if (!event || !['track', 'identify', 'group', 'page', 'screen', 'alias'].includes(event.type)) {
        rejected.push({ index, messageId: event && event.messageId, reason: 'invalid_type' });
      }
    });
    record.status = answer(200, { accepted: body.batch.length - rejected.length, rejected });
  }

  /**
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   * @param {URL} url
   */
  function answerConfig(req, res, url) {
    const body = JSON.stringify(config);
    const etag = '"' + createHash('sha256').update(body).digest('hex').slice(0, 32) + '"';
    const ifNoneMatch = req.headers['if-none-match'];
    const status = ifNoneMatch === etag ? 304 : 200;
    configRequests.push({ at: Date.now(), writeKey: url.searchParams.get('writeKey'), groupId: url.searchParams.get('groupId'), ifNoneMatch, status });
    res.writeHead(status, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-cache', ETag: etag });
    res.end(status === 304 ? undefined : body);
  }

  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  const origin = `http://127.0.0.1:${address.port}`;

  return {
    origin,
    requests,
    /** Events of the accepted (200) requests, in arrival order. */
    events() {
      return requests.filter((r) => r.status === 200).flatMap((r) => r.body.batch);
    },
    /** Scripts the next ingest answers; later requests get the normal 200. */
    respond(/** @type {ScriptedAnswer[]} */ ...answers) {
      scripted = answers;
    },
    setSdkDelay(/** @type {number} */ ms) {
      sdkDelayMs = ms;
    },
    configRequests,
    sdkRequests,
    /** What GET /v1/sdk/config answers from now on. */
    setConfig(/** @type {unknown} */ body) {
      config = body;
    },
    /** Serves an HTML page (with optional response headers, e.g. a CSP). */
    page(/** @type {string} */ path, /** @type {string} */ html, /** @type {Record<string, string>} */ headers = {}) {
      routes.set(path, { body: html, type: 'text/html; charset=utf-8', headers });
    },
    script(/** @type {string} */ path, /** @type {string} */ js) {
      routes.set(path, { body: js, type: 'text/javascript' });
    },
    reset() {
      requests.length = 0;
      configRequests.length = 0;
      sdkRequests.length = 0;
      scripted = [];
      sdkDelayMs = 0;
      config = EMPTY_CONFIG;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}
