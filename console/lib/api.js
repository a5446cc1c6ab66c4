/**
 * The console's one way to reach console-api. Every call carries the session's token (and the
 * project's anon key, which hosted's gateway expects); a failed call throws an ApiError with the
 * API's own `code` and `message` (its one JSON error shape), so panels show what went wrong.
 */

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** `params`: an object; empty values are left out, so a cleared filter is no filter. */
export function query(params = {}) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") q.set(key, String(value));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** `token()`: the access token to send (async: it may refresh), or null when signed out. */
export function createApi({ apiUrl, anonKey, token, onUnauthorized }) {
  const base = `${apiUrl.replace(/\/$/, "")}/functions/v1/console-api`;
  async function call(method, path, body) {
    const bearer = await token();
    if (!bearer) {
      onUnauthorized?.();
      throw new ApiError(401, "signed_out", "Your session has ended: sign in again.");
    }
    let res;
    try {
      res = await fetch(base + path, {
        method,
        headers: {
          authorization: `Bearer ${bearer}`,
          ...(anonKey ? { apikey: anonKey } : {}),
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "unreachable", `The console API at ${apiUrl} cannot be reached.`);
    }
    const data = await res.json().catch(() => null);
    if (res.ok) return data;
    if (res.status === 401) onUnauthorized?.();
    throw new ApiError(
      res.status,
      data?.code ?? "http_" + res.status,
      data?.message ?? `The console API answered ${res.status}.`,
      Number(res.headers.get("retry-after")) || undefined,
    );
  }
  return {
    get: (path, params) => call("GET", path + query(params)),
    post: (path, body = {}) => call("POST", path, body),
  };
}
