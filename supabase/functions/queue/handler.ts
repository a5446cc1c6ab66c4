/**
 * The queue API.
 *   GET  /queue/<customerId>   that customer's jobs, newest first (?limit=1..200, default 50)
 *   POST /queue/<customerId>   enqueue one job {package_size, priority_level?, payload?}, or up
 *                              to maxBulkJobs as {"jobs": [...]} in one transaction; optional
 *                              Idempotency-Key header; 202 with the job(s) once committed
 * Callers: the service role key; a user JWT whose app_metadata.customer_id is that customer; or
 * an x-api-key issued to that customer. Nobody reads or writes another customer's queue.
 * The answer does not wait for SQS: the new jobs' messages are sent as it is handed over
 * (sendAfterAnswer).
 */
import type { Caller } from "../_shared/auth.ts";
import { errorResponse, internalError } from "../_shared/errors.ts";
import { CORS_HEADERS, json, readBodyCapped, withHeaders } from "../_shared/http.ts";
import type { OutboxRow } from "../_shared/outbox.ts";
import { limitKey, policyField, rateLimited, stateField } from "../_shared/ratelimit/middleware.ts";
import type { Policy } from "../_shared/ratelimit/policy.ts";
import type { RefusalLog } from "../_shared/ratelimit/refusals.ts";
import type { EnqueuedJob, EnqueueResult, JobsCharge, QueueStore } from "./store.ts";
import {
  type BulkItem,
  checkBulkBody,
  checkCustomerId,
  checkEnqueueBody,
  checkIdempotencyKey,
  LIMITS,
} from "./validate.ts";

export interface QueueLimits {
  /** A single job's body, and each job of a bulk request, at most. */
  maxBodyBytes: number;
  /** A bulk request's body at most. */
  maxBulkBodyBytes: number;
  /** Jobs one bulk request may carry. */
  maxBulkJobs: number;
}

export interface QueueDeps {
  identify(req: Request): Promise<Caller>;
  store: Pick<QueueStore, "enqueue" | "listJobs">;
  /** Sends new jobs' outbox rows to SQS after the answer; never throws (dispatch is the backstop). */
  sendAfterAnswer(rows: OutboxRow[]): void;
  limits: QueueLimits;
  /** Jobs per customer (RATE_LIMIT_JOBS), charged per new job; undefined: not limited. */
  jobsPolicy?: Policy;
  /** Where the jobs policy's refusals are counted for operators. */
  refusals?: RefusalLog;
}

const ALLOW = "GET, POST, OPTIONS";
/** What queue_position is, said in every list: SQS, not this count, decides the order. */
export const QUEUE_POSITION_BASIS =
  "estimate: 1 + the pending jobs of the job's lane enqueued before it; SQS decides the actual order";
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 200;
const utf8 = new TextEncoder();

function jobView(customerId: string, job: EnqueuedJob, item: BulkItem) {
  return {
    id: job.job_id,
    customer_id: customerId,
    status: job.status,
    package_size: item.package_size,
    priority_level: job.priority_level,
    priority_tier: job.priority_tier,
    lane: job.lane,
    attempts: job.attempts,
    created_at: job.created_at,
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
  return json({ customer_id: customerId, queue_position_basis: QUEUE_POSITION_BASIS, jobs });
}

/** The jobs policy's RateLimit header fields, when it was charged. */
function jobsHeaders(
  policy: Policy | undefined,
  charge: JobsCharge | undefined,
): Record<string, string> {
  if (!policy || !charge) return {};
  return { "ratelimit-policy": policyField(policy), ratelimit: stateField(policy, charge) };
}

/** The parsed, checked body: the items to enqueue and whether it was a bulk request. */
type Parsed = { ok: true; items: BulkItem[]; bulk: boolean } | { ok: false; response: Response };

function parseBody(text: string, key: string | null, limits: QueueLimits): Parsed {
  const refuse = (response: Response): Parsed => ({ ok: false, response });
  const tooLarge = () =>
    refuse(
      errorResponse(413, "payload_too_large", `The body is over ${limits.maxBodyBytes} bytes.`),
    );
  // Only a bulk request may be larger than one job's limit.
  const overSingle = text.length > limits.maxBodyBytes / 3 &&
    utf8.encode(text).length > limits.maxBodyBytes;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return overSingle
      ? tooLarge()
      : refuse(errorResponse(400, "invalid_json", "The body is not valid JSON."));
  }
  const isBulk = parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) &&
    "jobs" in parsed;
  if (!isBulk) {
    if (overSingle) return tooLarge();
    const input = checkEnqueueBody(parsed);
    if (!input.ok) {
      return refuse(errorResponse(400, "invalid_body", input.message, {
        extra: input.field ? { field: input.field } : {},
      }));
    }
    const item: BulkItem = key === null ? input.value : { ...input.value, idempotency_key: key };
    return { ok: true, items: [item], bulk: false };
  }
  const checked = checkBulkBody(parsed as Record<string, unknown>, {
    maxJobs: limits.maxBulkJobs,
    maxJobBytes: limits.maxBodyBytes,
  });
  if (!checked.ok) {
    return refuse(errorResponse(
      checked.status,
      checked.status === 413 ? "payload_too_large" : "invalid_body",
      checked.message,
      { extra: { ...(checked.field ? { field: checked.field } : {}), index: checked.index } },
    ));
  }
  return { ok: true, items: checked.value, bulk: true };
}

/** 400 naming the tier asked for, the item (bulk), and the tiers there are. */
function unknownTier(
  index: number | undefined,
  item: BulkItem | undefined,
  result: { knownTiers: string[] },
): Response {
  const field = index === undefined ? "priority_level" : `jobs[${index}].priority_level`;
  const { min, max } = LIMITS.priority;
  const known = result.knownTiers.length > 0 ? result.knownTiers.join(", ") : "none";
  return errorResponse(
    400,
    "unknown_priority_tier",
    `${field} '${item?.priority_level ?? ""}' is not a known tier. Known tiers: ${known}; ` +
      `or give a number from ${min} to ${max}.`,
    { extra: { field, ...(index === undefined ? {} : { index }), known_tiers: result.knownTiers } },
  );
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
  const { limits } = deps;
  let text: string | null;
  try {
    text = await readBodyCapped(req, Math.max(limits.maxBodyBytes, limits.maxBulkBodyBytes));
  } catch {
    return errorResponse(400, "invalid_json", "The body is not valid UTF-8 JSON.");
  }
  if (text === null) {
    return errorResponse(
      413,
      "payload_too_large",
      `The body is over ${limits.maxBulkBodyBytes} bytes (a bulk request's limit).`,
    );
  }
  const body = parseBody(text, key.value, limits);
  if (!body.ok) return body.response;

  const policy = deps.jobsPolicy;
  const result: EnqueueResult = await deps.store.enqueue(customerId, body.items, {
    // A single job's key is the job's own (inside items); a bulk request's covers the batch.
    batchKey: body.bulk ? key.value : null,
    limit: policy && {
      key: limitKey("queue", policy, `customer:${customerId}`),
      limit: policy.limit,
      periodMs: policy.periodSeconds * 1000,
    },
  });
  if (result.kind === "conflict") {
    const itemAtFault = body.bulk ? result.item : undefined;
    const message = itemAtFault !== undefined
      ? `jobs[${itemAtFault}]'s idempotency_key was already used for a different job.`
      : `This Idempotency-Key was already used for a different ${body.bulk ? "batch" : "job"}.`;
    return errorResponse(409, "idempotency_key_reused", message, {
      extra: itemAtFault !== undefined
        ? { index: itemAtFault, field: `jobs[${itemAtFault}].idempotency_key` }
        : {},
    });
  }
  if (result.kind === "unknown_tier") {
    return unknownTier(body.bulk ? result.item : undefined, body.items[result.item], result);
  }
  if (result.kind === "rate_limited") {
    deps.refusals?.refused({ policy: policy!.name, client: `customer:${customerId}`, customerId });
    const refused = rateLimited(policy!, result.charge.retryAfterMs, "jobs");
    return withHeaders(refused, jobsHeaders(policy, result.charge));
  }

  const created = result.jobs.flatMap((job) =>
    job.outbox_id === null ? [] : [{
      outbox_id: job.outbox_id,
      job_id: job.job_id,
      customer_id: customerId,
      tries: 0,
      lane: job.lane,
    }]
  );
  if (created.length > 0) deps.sendAfterAnswer(created);
  const headers: Record<string, string> = {
    location: `/functions/v1/queue/${encodeURIComponent(customerId)}`,
    ...jobsHeaders(policy, result.charge),
  };
  if (result.jobs.every((job) => job.outcome === "existing")) {
    headers["idempotent-replayed"] = "true";
  }
  if (!body.bulk) {
    return json({ job: jobView(customerId, result.jobs[0]!, body.items[0]!) }, 202, headers);
  }
  return json(
    {
      jobs: result.jobs.map((job, i) => ({
        ...jobView(customerId, job, body.items[i]!),
        ...(body.items[i]!.idempotency_key
          ? { idempotency_key: body.items[i]!.idempotency_key }
          : {}),
        replayed: job.outcome === "existing",
      })),
    },
    202,
    headers,
  );
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
