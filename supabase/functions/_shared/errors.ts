/**
 * The one error shape every function (and the local gateway) answers with:
 * `{"error": <short title>, "code": <stable machine code>, "message": <what went wrong>}`,
 * plus fields that a specific error adds (the rate limiter's `retryAfter`). Clients branch on
 * `code`; `message` is for people and never carries internal detail.
 */

const TITLES: Record<number, string> = {
  400: "Bad request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not found",
  405: "Method not allowed",
  409: "Conflict",
  413: "Payload too large",
  415: "Unsupported media type",
  422: "Unprocessable entity",
  429: "Too many requests",
  500: "Internal server error",
  502: "Bad gateway",
  503: "Service unavailable",
  504: "Gateway timeout",
};

export interface ErrorBody {
  error: string;
  code: string;
  message: string;
  [extra: string]: unknown;
}

export function errorBody(
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
): ErrorBody {
  return { error: TITLES[status] ?? "Error", code, message, ...extra };
}

export function errorResponse(
  status: number,
  code: string,
  message: string,
  options: { extra?: Record<string, unknown>; headers?: HeadersInit } = {},
): Response {
  const headers = new Headers(options.headers);
  headers.set("content-type", "application/json");
  headers.set("cache-control", "no-store");
  return new Response(JSON.stringify(errorBody(status, code, message, options.extra)), {
    status,
    headers,
  });
}

/** Connection-level failure codes of postgres.js, node-postgres and the network layer. */
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  // Postgres: shutting down, starting up, too many connections.
  "57P01",
  "57P02",
  "57P03",
  "53300",
]);

/** node-postgres reports a lost or never-made connection without a code. */
const CONNECTION_LOST =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout)/;

/** True when the error says a dependency is unreachable (retry later), not that we failed. */
export function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") {
    return error instanceof Error && CONNECTION_LOST.test(error.message);
  }
  // SQLSTATE class 08: connection exception.
  return UNAVAILABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code);
}

/**
 * The database cannot be reached at all: unavailable as above, or it refuses our credentials
 * (class 28). What lets the rate limiter fall back to memory; a slow answer never does.
 */
export function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return isUnavailable(error) || (typeof code === "string" && /^28[0-9A-Z]{3}$/.test(code));
}

/**
 * The answer to anything unexpected: the detail goes to the log, the caller gets nothing of it.
 * A dependency that cannot be reached is a 503 the client may retry, not our 500.
 */
export function internalError(context: string, error: unknown): Response {
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  console.error(`${context}: ${detail}`);
  if (isUnavailable(error)) {
    return errorResponse(
      503,
      "unavailable",
      "A service this request needs is unavailable; retry shortly.",
      {
        headers: { "retry-after": "5" },
      },
    );
  }
  return errorResponse(500, "internal_error", "The server could not complete the request.");
}
