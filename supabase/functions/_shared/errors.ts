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

/** The answer to anything unexpected: the detail goes to the log, the caller gets nothing of it. */
export function internalError(context: string, error: unknown): Response {
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  console.error(`${context}: ${detail}`);
  return errorResponse(500, "internal_error", "The server could not complete the request.");
}
