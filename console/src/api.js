// The private API as the signed-in person: the session cookie (HttpOnly, sent by the browser),
// the project chosen in the header (X-Cxloop-Project) and the CSRF token on unsafe requests.

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message @param {any} [body] */
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

const state = { project: '', csrf: '', onUnauthorized: () => {} };

/** Set by the app once the session is known. */
export function configure(/** @type {{ project?: string, csrf?: string, onUnauthorized?: () => void }} */ options) {
  Object.assign(state, options);
}

/** `?a=1&b=x&b=y` from an object; empty, null and undefined values are left out; arrays repeat. */
export function query(/** @type {Record<string, any>} */ params = {}) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    for (const item of Array.isArray(value) ? value : [value]) if (item !== '' && item !== null && item !== undefined) search.append(key, String(item));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/**
 * @param {string} method
 * @param {string} path  e.g. '/v1/accounts'
 * @param {{ params?: Record<string, any>, body?: any, signal?: AbortSignal, raw?: boolean }} [options]
 */
export async function request(method, path, { params, body, signal, raw } = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (state.project) headers['X-Cxloop-Project'] = state.project;
  if (method !== 'GET' && method !== 'HEAD' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path + query(params), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    signal,
  });
  if (raw && response.ok) return response;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401 && path !== '/v1/session') state.onUnauthorized();
    throw new ApiError(response.status, data?.code || `http_${response.status}`, data?.message || response.statusText, data);
  }
  return data;
}

export const api = {
  get: (/** @type {string} */ path, /** @type {Record<string, any>} */ params, /** @type {AbortSignal} */ signal) => request('GET', path, { params, signal }),
  post: (/** @type {string} */ path, /** @type {any} */ body) => request('POST', path, { body }),
  put: (/** @type {string} */ path, /** @type {any} */ body) => request('PUT', path, { body }),
  patch: (/** @type {string} */ path, /** @type {any} */ body) => request('PATCH', path, { body }),
  del: (/** @type {string} */ path) => request('DELETE', path),
  /** A URL the browser can download from (CSV export): same-origin, the cookie authenticates. */
  url: (/** @type {string} */ path, /** @type {Record<string, any>} */ params) => path + query(params),
  /** GET returning the Response itself (downloads). */
  raw: (/** @type {string} */ path, /** @type {Record<string, any>} */ params) => request('GET', path, { params, raw: true }),
};
