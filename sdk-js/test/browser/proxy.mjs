// A tiny HTTP proxy in front of the real cxloop server, on another host name (localhost rather
// than 127.0.0.1, so pages on the test app's origin are cross-origin to it), for answers the real
// server gives only under stress or after a fault: a 503 for the first event request, or a 500
// without CORS (what a crashing server looks like to a browser). Everything else, CORS preflights
// included, is passed to the real server unchanged (the Host header too), and every request is
// recorded.
import { createServer, request as forward } from 'node:http';

/**
 * @typedef {{ method: string, path: string, headers: import('node:http').IncomingHttpHeaders,
 *   body: string, status: number, answeredBy: 'proxy' | 'cxloop' }} ProxiedRequest
 * @typedef {{ status: number, headers?: Record<string, string>, body?: string }} ProxyAnswer
 */

/**
 * @param {string} target the real server's origin
 * @param {(request: { method: string, path: string, headers: import('node:http').IncomingHttpHeaders, body: string }) => ProxyAnswer | null} [intercept]
 *   an answer given by the proxy itself, or null to pass the request on
 */
export async function startProxy(target, intercept = () => null) {
  /** @type {ProxiedRequest[]} */
  const requests = [];
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    /** @type {Buffer[]} */
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const seen = { method: req.method || '', path: req.url || '', headers: req.headers, body: raw.toString('utf8') };
      const own = intercept(seen);
      if (own) {
        requests.push({ ...seen, status: own.status, answeredBy: 'proxy' });
        res.writeHead(own.status, own.headers || {});
        res.end(own.body || '');
        return;
      }
      const out = forward({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        requests.push({ ...seen, status: answer.statusCode || 0, answeredBy: 'cxloop' });
        res.writeHead(answer.statusCode || 502, answer.headers);
        answer.pipe(res);
      });
      out.on('error', (error) => {
        requests.push({ ...seen, status: 502, answeredBy: 'proxy' });
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end(String(error));
      });
      out.end(raw);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    /** The proxy's origin, on a host name of its own. */
    origin: `http://localhost:${address.port}`,
    requests,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}
