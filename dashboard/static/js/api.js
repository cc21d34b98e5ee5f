// The API client and the session. The bearer token lives only in this
// module's memory: nothing is written to storage or cookies, so a reload
// (or a new tab) means logging in again.

const base = '/api/v1';

const session = { token: '', expires: 0, name: '', role: '', absoluteExpiry: 0, idleSeconds: 0 };
let expiryTimer = 0;
// generation counts sessions: an answer that arrives after a logout must
// not bring the old token back.
let generation = 0;
let lastDate = null; // the Date header of the latest answer
let onExpired = () => {};

/** Register what happens when the session ends (a 401, or the token's expiry passing). */
export function setExpiredHandler(fn) { onExpired = fn; }

export function currentSession() { return session; }
export function loggedIn() { return session.token !== ''; }

// keepToken stores a token and arms the expiry timer. The expiry is taken
// relative to the server's clock (its Date header), so a client clock that
// is off, or a server on a test clock, does not end sessions early or late.
function keepToken(token, expires, serverDate) {
  if (!token) return;
  session.token = token;
  const exp = Date.parse(expires);
  const now = Date.parse(serverDate);
  session.expires = Number.isNaN(exp) ? 0 : Date.now() + (Number.isNaN(now) ? exp - Date.now() : exp - now);
  clearTimeout(expiryTimer);
  if (session.expires) {
    // Fire a moment after the server would refuse the token. setTimeout
    // caps at ~24.8 days; sessions last 8 h at most.
    const wait = Math.max(0, session.expires - Date.now() + 1000);
    expiryTimer = setTimeout(() => {
      if (session.token && Date.now() >= session.expires) expire('session_expired');
    }, wait);
  }
}

export function logout() {
  generation++;
  clearTimeout(expiryTimer);
  session.token = ''; session.expires = 0; session.name = ''; session.role = '';
  session.absoluteExpiry = 0; session.idleSeconds = 0;
}

function expire(code) {
  logout();
  onExpired(code);
}

/**
 * ApiError is a refused or failed request: the HTTP status, the API's
 * stable code and its human message.
 */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * request calls the API and returns the decoded JSON body (null for 204).
 * Errors throw ApiError with the server's message. A 401 ends the session.
 */
export async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (session.token) headers.Authorization = 'Bearer ' + session.token;
  const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const gen = generation;
  let res;
  try {
    res = await fetch(base + path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'The server could not be reached. Check the connection and try again.');
  }
  if (gen !== generation) throw new ApiError(0, 'logged_out', 'You logged out before the server answered.');
  lastDate = res.headers.get('Date');
  keepToken(res.headers.get('X-Refreshed-Token'), res.headers.get('X-Refreshed-Token-Expires'), res.headers.get('Date'));
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const code = (data && data.code) || 'http_' + res.status;
    const message = (data && data.message) || `The server answered ${res.status} ${res.statusText}.`;
    if (res.status === 401 && path !== '/login' && session.token) {
      expire(code);
    }
    throw new ApiError(res.status, code, message);
  }
  return data;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body);
export const put = (path, body) => request('PUT', path, body);
export const patch = (path, body) => request('PATCH', path, body);
export const del = (path) => request('DELETE', path);

/** login starts a session: the token, then who we are from GET /session. */
export async function login(name, password) {
  logout();
  const tok = await request('POST', '/login', { name, password });
  keepToken(tok.token, tok.expires_at, lastDate);
  const s = await request('GET', '/session');
  session.name = s.name;
  session.role = s.role;
  // In this browser's clock, like the token's expiry.
  const skew = Date.parse(lastDate) - Date.now();
  const abs = Date.parse(s.absolute_expiry);
  session.absoluteExpiry = Number.isNaN(abs) ? 0 : abs - (Number.isNaN(skew) ? 0 : skew);
  session.idleSeconds = s.inactivity_timeout_seconds || 0;
  return session;
}

/** query builds "?a=b&…" from the non-empty members of params. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

/**
 * enc escapes a path segment, leaving "@" and the other characters a
 * segment may hold as they are (RFC 3986 3.3): the API matches an address
 * in the path as sent, so "alice%40example.com" would not be found.
 */
export function enc(s) {
  return encodeURIComponent(s).replace(/%(40|2B|3A|21|24|26|27|28|29|2A|2C|3B|3D)/gi, (m) => decodeURIComponent(m));
}
