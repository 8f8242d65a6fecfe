// The console's only way to the service: the service's own public HTTP API,
// relative to where the console is mounted (`<base>/console/` -> `<base>/`),
// so that a service nested under a prefix works unchanged.

/** The root of the service's routes (the console lives at `<root>console/`). */
export const root = new URL('../', document.baseURI);

/** A URL of the service's API with query parameters (empty ones left out). */
export function url(path, params = {}) {
  const u = new URL(path.replace(/^\//, ''), root);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') u.searchParams.set(key, String(value));
  }
  return u;
}

/** An API error: the problem details the service answered (RFC 9457), or a network failure. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status;
    this.title = (problem && problem.title) || `HTTP ${status}`;
    this.detail = (problem && problem.detail) || '';
    this.problem = problem;
  }
}

const TOKEN_KEY = 'eventfold.console.adminToken';

/** The admin token typed in this tab (kept for the tab's session only). */
export function adminToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

/** Keeps (or forgets, when empty) the admin token for this tab. */
export function setAdminToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage off: the token lives only in the field */ }
}

async function send(method, path, params, body, headers = {}) {
  let response;
  try {
    response = await fetch(url(path, params), {
      method,
      headers: { Accept: 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, { title: 'Service unreachable', detail: String(e.message || e) });
  }
  const text = await response.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch { json = { detail: text.slice(0, 200) }; }
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

/** GET a JSON document of the API. */
export function get(path, params = {}) {
  return send('GET', path, params);
}

/** POST to an admin route, with the admin token when one was given. */
export function postAdmin(path, body) {
  const token = adminToken();
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  return send('POST', path, {}, body, headers);
}

/** Path segment of a name or id (they are validated by the service; encode anyway). */
export function seg(s) {
  return encodeURIComponent(String(s));
}
