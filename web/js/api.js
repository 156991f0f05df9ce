// The Talk API v1 over fetch. Every request carries `OCS-APIRequest: true`: the server requires it,
// and it is what makes the login cookie safe against cross-site requests (docs/WEB-CLIENT.md).

const OCS = "/ocs/v2.php/apps/spreed/api/v1";
const HEADERS = { "OCS-APIRequest": "true", Accept: "application/json" };

export class ApiError extends Error {
  constructor(status, message, data) {
    super(message || `request failed with status ${status}`);
    this.status = status;
    this.data = data;
  }
}

function encode(params) {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null) body.append(key, String(value));
  }
  return body;
}

async function request(method, url, params, { signal, keepalive } = {}) {
  const init = { method, headers: HEADERS, credentials: "same-origin", signal, keepalive, cache: "no-store" };
  if (params) {
    if (method === "GET") url += `?${encode(params)}`;
    else init.body = encode(params);
  }
  const response = await fetch(url, init);
  if (response.status === 304) return { status: 304, data: null, headers: response.headers };
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const data = body && body.ocs ? body.ocs.data : body;
  if (!response.ok) {
    const message = (body && body.ocs && body.ocs.meta && body.ocs.meta.message) || (body && body.message);
    throw new ApiError(response.status, message, data);
  }
  return { status: response.status, data, headers: response.headers };
}

export const api = {
  get: (path, params, opts) => request("GET", OCS + path, params, opts),
  post: (path, params, opts) => request("POST", OCS + path, params || {}, opts),
  put: (path, params, opts) => request("PUT", OCS + path, params || {}, opts),
  del: (path, params, opts) => request("DELETE", OCS + path, params || {}, opts),
};

// The web client's own login endpoints (plain JSON, not OCS).
export const login = {
  status: () => request("GET", "/login/status").then((r) => r.data),
  logIn: (user, password) => request("POST", "/login", { user, password }).then((r) => r.data),
  logOut: () => request("POST", "/logout", {}).then((r) => r.data),
  // First run: create the first administrator with the one-time token of the setup link.
  setUp: (token, userId, displayName, password) =>
    request("POST", "/setup", { token, userId, displayName, password }).then((r) => r.data),
};
