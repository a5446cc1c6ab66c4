/**
 * What console-api accepts, checked before anything runs: page sizes, opaque keyset cursors, job
 * filters and action bodies. Each check returns the value or a Problem (the 400 to answer).
 */
import { LANES } from "../_shared/lanes.ts";

export interface Problem {
  code: string;
  message: string;
  field?: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: Problem };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const bad = (code: string, message: string, field?: string): Checked<never> => ({
  ok: false,
  problem: { code, message, ...(field ? { field } : {}) },
});

export const STATUSES = ["pending", "in_progress", "completed", "failed"] as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 200;
/** Ids one request may name (a bulk action on more goes by filter). */
export const MAX_IDS = 10_000;

export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}

/** Refuses query parameters the endpoint does not know, so a typo is not a silent no-op. */
export function onlyParams(params: URLSearchParams, known: string[]): Checked<true> {
  for (const name of params.keys()) {
    if (!known.includes(name)) {
      return bad("unknown_parameter", `Unknown query parameter: ${name}.`, name);
    }
  }
  return ok(true);
}

/** A count parameter (`limit` by default) from 1 to max, or its default. */
export function pageSize(
  params: URLSearchParams,
  max = MAX_PAGE,
  name = "limit",
  fallback = DEFAULT_PAGE,
): Checked<number> {
  const raw = params.get(name);
  if (raw === null) return ok(Math.min(fallback, max));
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > max) {
    return bad("invalid_query", `${name} must be an integer from 1 to ${max}.`, name);
  }
  return ok(n);
}

/** Cursors are opaque to callers: base64url of the last row's keyset values. */
export function encodeCursor(values: (string | number)[]): string {
  return btoa(JSON.stringify(values)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * The keyset values of `cursor`, checked against their expected kinds ("time", "uuid", "id",
 * "text"); null when there is none.
 */
export function decodeCursor(
  params: URLSearchParams,
  kinds: ("time" | "uuid" | "id" | "text")[],
): Checked<(string | number)[] | null> {
  const raw = params.get("cursor");
  if (raw === null || raw === "") return ok(null);
  let values: unknown;
  try {
    values = JSON.parse(atob(raw.replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    values = undefined;
  }
  const valid = Array.isArray(values) && values.length === kinds.length &&
    kinds.every((kind, i) => {
      const v = values[i];
      if (kind === "time") return typeof v === "string" && isPostgresTime(v);
      if (kind === "uuid") return isUuid(v);
      if (kind === "id") return Number.isSafeInteger(v) && (v as number) > 0;
      return typeof v === "string" && v.length > 0 && v.length <= 512;
    });
  if (!valid) {
    return bad("invalid_cursor", "cursor is not one this endpoint gave out.", "cursor");
  }
  return ok(values as (string | number)[]);
}

export interface JobFilter {
  status?: typeof STATUSES[number];
  customer_id?: string;
  priority_level?: number;
  lane?: string;
  created_after?: string;
  created_before?: string;
}

export const FILTER_KEYS = [
  "status",
  "customer_id",
  "priority_level",
  "lane",
  "created_after",
  "created_before",
] as const;

/**
 * A timestamp as this API gives them out (Postgres's ISO form, to the microsecond): a cursor keeps
 * it as it is, since rounding it to milliseconds would skip or repeat rows.
 */
const POSTGRES_TIME = /^(\d{4})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}(:\d{2})?)$/;

function isPostgresTime(value: string): boolean {
  const match = POSTGRES_TIME.exec(value);
  return match !== null && Number(match[1]) >= 1 && !Number.isNaN(Date.parse(value));
}

/** An ISO 8601 date or time within years 1-9999 (what Postgres takes), normalised; else undefined. */
function isoTime(value: unknown): string | undefined {
  if (typeof value !== "string" || value.length > 64 || !/^\d{4}-\d{2}-\d{2}/.test(value)) {
    return undefined;
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) return undefined;
  const year = new Date(t).getUTCFullYear();
  return year >= 1 && year <= 9999 ? new Date(t).toISOString() : undefined;
}

/** A job filter from query parameters or a JSON body (values as strings or numbers). */
export function jobFilter(input: Record<string, unknown>): Checked<JobFilter> {
  const filter: JobFilter = {};
  for (const [key, value] of Object.entries(input)) {
    if (!(FILTER_KEYS as readonly string[]).includes(key)) {
      return bad("unknown_filter", `Unknown filter: ${key}.`, key);
    }
    if (key === "status") {
      if (!STATUSES.includes(value as typeof STATUSES[number])) {
        return bad("invalid_filter", `status must be one of ${STATUSES.join(", ")}.`, key);
      }
      filter.status = value as typeof STATUSES[number];
    } else if (key === "customer_id") {
      if (typeof value !== "string" || value.length < 1 || value.length > 128) {
        return bad("invalid_filter", "customer_id must be 1 to 128 characters.", key);
      }
      filter.customer_id = value;
    } else if (key === "priority_level") {
      const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
      if (!Number.isInteger(n) || (n as number) < 0 || (n as number) > 10) {
        return bad("invalid_filter", "priority_level must be an integer from 0 to 10.", key);
      }
      filter.priority_level = n as number;
    } else if (key === "lane") {
      if (!(LANES as readonly unknown[]).includes(value)) {
        return bad("invalid_filter", `lane must be one of ${LANES.join(", ")}.`, key);
      }
      filter.lane = value as string;
    } else {
      const time = isoTime(value);
      if (!time) return bad("invalid_filter", `${key} must be an ISO 8601 time.`, key);
      filter[key as "created_after" | "created_before"] = time;
    }
  }
  return ok(filter);
}

export type BulkAction = "retry" | "cancel";

export interface OperationRequest {
  action: BulkAction;
  ids?: string[];
  filter?: JobFilter;
  dryRun: boolean;
}

export function operationRequest(body: unknown): Checked<OperationRequest> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return bad("invalid_body", "The body must be a JSON object.");
  }
  const { action, ids, filter, dry_run: dryRun = false, ...rest } = body as Record<
    string,
    unknown
  >;
  const unknown = Object.keys(rest)[0];
  if (unknown) return bad("unknown_field", `Unknown field: ${unknown}.`, unknown);
  if (action !== "retry" && action !== "cancel") {
    return bad("invalid_field", "action must be retry or cancel.", "action");
  }
  if (typeof dryRun !== "boolean") {
    return bad("invalid_field", "dry_run must be true or false.", "dry_run");
  }
  if ((ids === undefined) === (filter === undefined)) {
    return bad("invalid_field", "Give either ids (a list of job ids) or filter, not both.", "ids");
  }
  if (ids !== undefined) {
    if (!Array.isArray(ids) || ids.length < 1 || ids.length > MAX_IDS || !ids.every(isUuid)) {
      return bad("invalid_field", `ids must be 1 to ${MAX_IDS} job ids (UUIDs).`, "ids");
    }
    return ok({ action, ids: [...new Set(ids.map((id) => id.toLowerCase()))], dryRun });
  }
  if (typeof filter !== "object" || filter === null || Array.isArray(filter)) {
    return bad("invalid_field", "filter must be a JSON object.", "filter");
  }
  const checked = jobFilter(filter as Record<string, unknown>);
  if (!checked.ok) return checked;
  return ok({ action, filter: checked.value, dryRun });
}

export interface RedriveRequest {
  limit: number;
  dryRun: boolean;
}

export function redriveRequest(body: unknown): Checked<RedriveRequest> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return bad("invalid_body", "The body must be a JSON object.");
  }
  const { limit = 100, dry_run: dryRun = false, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown) return bad("unknown_field", `Unknown field: ${unknown}.`, unknown);
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > 10_000) {
    return bad("invalid_field", "limit must be an integer from 1 to 10000.", "limit");
  }
  if (typeof dryRun !== "boolean") {
    return bad("invalid_field", "dry_run must be true or false.", "dry_run");
  }
  return ok({ limit: limit as number, dryRun });
}
