/**
 * The queue API.
 *   GET  /queue/<customerId>   that customer's jobs, newest first (?limit=1..200, default 50)
 *   POST /queue/<customerId>   enqueue {package_size, priority_level, payload?}; optional
 *                              Idempotency-Key header; 202 with the job
 * Callers: the service role key; a user JWT whose app_metadata.customer_id is that customer; or
 * an x-api-key issued to that customer. Nobody reads or writes another customer's queue.
 */
import type { Caller } from "../_shared/auth.ts";
import { errorResponse, internalError } from "../_shared/errors.ts";
import { CORS_HEADERS, json, readBodyCapped, withHeaders } from "../_shared/http.ts";
import type { Enqueued, QueueStore } from "./store.ts";
import { checkCustomerId, checkEnqueueBody, checkIdempotencyKey } from "./validate.ts";

export interface QueueDeps {
  identify(req: Request): Promise<Caller>;
  store: Pick<QueueStore, "enqueue" | "listJobs">;
  /** Sends the new job's outbox row right away; never throws (pg_cron retries what is left). */
  dispatchNow(outboxId: number): Promise<void>;
  maxBodyBytes: number;
}

const ALLOW = "GET, POST, OPTIONS";
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 200;

function jobBody(
  customerId: string,
  job: Enqueued,
  input: { package_size: number; priority_level: number },
) {
  return {
    job: {
      id: job.job_id,
      customer_id: customerId,
      status: job.status,
      package_size: input.package_size,
      priority_level: input.priority_level,
      attempts: job.attempts,
      created_at: job.created_at,
    },
  };
}

async function list(req: Request, deps: QueueDeps, customerId: string): Promise<Response> {
  const raw = new URL(req.url).searchParams.get("limit");
  const limit = raw === null ? DEFAULT_LIMIT : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    return errorResponse(400, "invalid_query", `limit must be an integer from 1 to ${MAX_LIMIT}.`, {
      extra: { field: "limit" },
    });
  }
  const jobs = await deps.store.listJobs(customerId, limit);
  return json({ customer_id: customerId, jobs });
}

async function enqueue(req: Request, deps: QueueDeps, customerId: string): Promise<Response> {
  const type = req.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    return errorResponse(415, "unsupported_media_type", "Send the body as application/json.");
  }
  const key = checkIdempotencyKey(req.headers.get("idempotency-key"));
  if (!key.ok) {
    return errorResponse(400, "invalid_header", key.message, { extra: { field: key.field } });
  }
  let text: string | null;
  try {
    text = await readBodyCapped(req, deps.maxBodyBytes);
  } catch {
    return errorResponse(400, "invalid_json", "The body is not valid UTF-8 JSON.");
  }
  if (text === null) {
    return errorResponse(413, "payload_too_large", `The body is over ${deps.maxBodyBytes} bytes.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return errorResponse(400, "invalid_json", "The body is not valid JSON.");
  }
  const input = checkEnqueueBody(parsed);
  if (!input.ok) {
    return errorResponse(400, "invalid_body", input.message, {
      extra: input.field ? { field: input.field } : {},
    });
  }
  const job = await deps.store.enqueue(customerId, input.value, key.value);
  if (job.outcome === "conflict") {
    return errorResponse(
      409,
      "idempotency_key_reused",
      "This Idempotency-Key was already used for a different job.",
    );
  }
  if (job.outcome === "created" && job.outbox_id) await deps.dispatchNow(job.outbox_id);
  const headers: Record<string, string> = {
    location: `/functions/v1/queue/${encodeURIComponent(customerId)}`,
  };
  if (job.outcome === "existing") headers["idempotent-replayed"] = "true";
  return json(jobBody(customerId, job, input.value), 202, headers);
}

export async function handle(req: Request, deps: QueueDeps): Promise<Response> {
  try {
    return withHeaders(await route(req, deps), CORS_HEADERS);
  } finally {
    // A body no route read (refused early) is let go here, once; readBodyCapped lets go of an
    // oversize one itself. A body stream that already failed has nothing left to let go.
    if (!req.bodyUsed) await req.body?.cancel().catch(() => {});
  }
}

async function route(req: Request, deps: QueueDeps): Promise<Response> {
  const match = /^\/queue\/([^/]+)\/?$/.exec(new URL(req.url).pathname);
  if (!match) return errorResponse(404, "not_found", "Use /queue/<customerId>.");
  if (req.method === "OPTIONS") return new Response(null, { status: 204 });
  if (req.method !== "GET" && req.method !== "POST") {
    return errorResponse(405, "method_not_allowed", `Use ${ALLOW}.`, { headers: { allow: ALLOW } });
  }
  try {
    // Who first (401), then which customer (400), then whether this caller may act for it (403).
    const caller = await deps.identify(req);
    if (caller.kind === "none") {
      return errorResponse(
        401,
        "unauthorized",
        "Send a service role key, a user JWT (Authorization: Bearer) or an x-api-key.",
      );
    }
    if (caller.kind === "invalid") {
      return errorResponse(401, "invalid_credentials", `Credentials rejected: ${caller.reason}.`);
    }
    const customerId = checkCustomerId(match[1]!);
    if (!customerId.ok) {
      return errorResponse(400, "invalid_customer_id", customerId.message);
    }
    const customer = customerId.value;
    if (caller.kind === "user") {
      return errorResponse(403, "forbidden", "This token is not tied to a customer.");
    }
    if (caller.kind === "customer" && caller.customerId !== customer) {
      return errorResponse(403, "forbidden", "These credentials belong to another customer.");
    }
    if (req.method === "GET") return await list(req, deps, customer);
    return await enqueue(req, deps, customer);
  } catch (error) {
    return internalError("queue", error);
  }
}
