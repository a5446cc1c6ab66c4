/**
 * The operator data API, under /console-api:
 *   GET  /me                       the caller's console role
 *   GET  /overview                 jobs per status, latency, throughput, queues, health checks
 *   GET  /jobs?status&customer_id&priority_level&lane&created_after&created_before&id&cursor&limit
 *   GET  /jobs/<id>                one job with its timeline, outbox rows and dead letters
 *   GET  /leases  /recoveries  /workers  /dlq  /alerts  /schedules  /operations  /audit
 *   GET  /rate-limits?window=1h|24h|7d   refusals per policy over time, the most refused clients
 *   GET  /operations/<id>
 *   POST /jobs/<id>/retry | /jobs/<id>/cancel                      (operator)
 *   POST /operations {action, ids | filter, dry_run}               (operator) bulk, tracked
 *   POST /dlq/redrive {limit, dry_run}                             (operator)
 *   GET  /metrics                  Prometheus / OpenMetrics text, with METRICS_TOKEN
 * Every read needs a console role (viewer or operator) in the token's app_metadata, or the
 * service role key; every action `operator` (or the service role) and leaves an audit row.
 * Lists are newest first (leases: longest silent first) and keyset-paginated: pass back
 * `next_cursor`. withConsoleHeaders() (outside the rate limiter) adds CORS for the configured
 * origins and no-store to every answer.
 */
import { bearerToken, sameSecret } from "../_shared/auth.ts";
import { errorResponse, internalError } from "../_shared/errors.ts";
import { json, readBodyCapped } from "../_shared/http.ts";
import { withTimeout } from "../_shared/timeout.ts";
import type { QueueDepths } from "../health/status.ts";
import { type ConsoleCaller, type ConsoleRole, mayAct } from "./access.ts";
import { latencySummary } from "./histogram.ts";
import { type MetricsInput, OPENMETRICS_TYPE, PROMETHEUS_TYPE, renderMetrics } from "./metrics.ts";
import {
  type BulkAction,
  type Checked,
  decodeCursor,
  encodeCursor,
  FILTER_KEYS,
  isUuid,
  jobFilter,
  onlyParams,
  operationRequest,
  pageSize,
  type Problem,
  type RedriveRequest,
  redriveRequest,
} from "./params.ts";
import type { ConsoleStore, Json, Operation } from "./store.ts";

export interface ConsoleDeps {
  identify(req: Request): Promise<ConsoleCaller>;
  store: ConsoleStore;
  /** The health function's IETF answer (checks with their reasons). */
  health(): Promise<Json>;
  queueDepths(): Promise<QueueDepths>;
  /** The DLQ monitor's redrive (POST /dlq-monitor/redrive): its status and answer. */
  redrive(request: RedriveRequest): Promise<{ status: number; body: Json }>;
  /** Keeps work going after the answer (EdgeRuntime.waitUntil). */
  background(work: Promise<unknown>): void;
  metricsToken?: string;
  batchSize: number;
  /** How long the answering instance runs a bulk action's batches before pg_cron takes over. */
  operationBudgetMs: number;
  now(): number;
  log(line: string): void;
}

interface Member {
  role: ConsoleRole;
  actor: string;
}

type Ctx = { req: Request; url: URL; params: string[]; member: Member; deps: ConsoleDeps };

interface Route {
  method: "GET" | "POST";
  path: RegExp;
  /** An action (needs the operator role): its name in the audit trail. */
  acts?: string;
  run(ctx: Ctx): Promise<Response>;
}

const ID = "([0-9a-fA-F-]{36})";
const SECONDARY_TIMEOUT_MS = 2_000;

function problem(p: Problem): Response {
  return errorResponse(400, p.code, p.message, { extra: p.field ? { field: p.field } : {} });
}

/** The value of a check, or throws the 400 to answer (caught in handle()). */
function need<T>(checked: Checked<T>): T {
  if (!checked.ok) throw problem(checked.problem);
  return checked.value;
}

const MAX_BODY_BYTES = 1_000_000;

async function body(req: Request): Promise<unknown> {
  let text: string | null;
  try {
    text = await readBodyCapped(req, MAX_BODY_BYTES);
  } catch {
    throw errorResponse(400, "invalid_json", "The body is not valid UTF-8 JSON.");
  }
  if (text === null) {
    throw errorResponse(413, "payload_too_large", "The body may be at most 1 MB.");
  }
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw errorResponse(400, "invalid_json", "The body is not valid JSON.");
  }
}

/** A secondary source (health, SQS) that must not hold the answer up or fail it: null then. */
async function within<T>(ms: number, work: () => Promise<T>): Promise<T | null> {
  try {
    return await withTimeout(work(), ms, "secondary source");
  } catch {
    return null;
  }
}

/** A list's page size and cursor (its keyset values, of the kinds given), checked. */
function listParams<K extends (string | number)[]>(
  url: URL,
  kinds: Parameters<typeof decodeCursor>[1],
): { limit: number; cursor: K | null } {
  need(onlyParams(url.searchParams, ["cursor", "limit"]));
  return {
    limit: need(pageSize(url.searchParams)),
    cursor: need(decodeCursor(url.searchParams, kinds)) as K | null,
  };
}

function page<T extends Json>(rows: T[], limit: number, key: (row: T) => (string | number)[]) {
  const last = rows.length === limit ? rows[rows.length - 1] : undefined;
  return { items: rows, next_cursor: last ? encodeCursor(key(last)) : null };
}

async function audit(
  ctx: Ctx,
  action: string,
  target: Json,
  affected: number,
  result: "ok" | "refused" | "failed",
  detail?: Json,
): Promise<void> {
  await ctx.deps.store.recordAudit({
    actor: ctx.member.actor,
    role: ctx.member.role,
    action,
    target,
    affected,
    result,
    ...(detail ? { detail } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// Reads.

async function overview({ deps }: Ctx): Promise<Response> {
  const [db, health, queues] = await Promise.all([
    deps.store.overview(),
    within(SECONDARY_TIMEOUT_MS, deps.health),
    within(SECONDARY_TIMEOUT_MS, deps.queueDepths),
  ]);
  const { latency_1h, ...rest } = db as Json & { latency_1h: Parameters<typeof latencySummary>[0] };
  return json({
    ...rest,
    latency_1h: latencySummary(latency_1h),
    queues: queues
      ? { lanes: queues.lanes, dlq: queues.dlqDepth }
      : { error: "SQS did not answer in time" },
    health: health ?? { status: "unknown", error: "the health function did not answer in time" },
  });
}

async function jobs(ctx: Ctx): Promise<Response> {
  const { url, deps } = ctx;
  const params = url.searchParams;
  need(onlyParams(params, [...FILTER_KEYS, "id", "cursor", "limit"]));
  const id = params.get("id");
  if (id !== null) {
    // An exact id goes straight to its job, whatever else is asked.
    if (!isUuid(id)) {
      throw problem({ code: "invalid_query", message: "id must be a job id (UUID).", field: "id" });
    }
    const found = await deps.store.job(id.toLowerCase());
    const job = (found?.job ?? null) as Json | null;
    return json({ items: job ? [job] : [], next_cursor: null, matched: "id" });
  }
  const filters: Record<string, string> = {};
  for (const [k, v] of params) if (k !== "cursor" && k !== "limit") filters[k] = v;
  const filter = need(jobFilter(filters));
  const limit = need(pageSize(params));
  const after = need(decodeCursor(params, ["time", "uuid"])) as [string, string] | null;
  const rows = await deps.store.jobs(filter, after, limit);
  return json({
    filter,
    ...page(rows, limit, (r) => [r.created_at as string, r.id as string]),
  });
}

async function job({ params, deps }: Ctx): Promise<Response> {
  const found = await deps.store.job(params[0]!.toLowerCase());
  if (!found) return errorResponse(404, "job_not_found", "No job has this id.");
  return json(found);
}

async function leases({ url, deps }: Ctx): Promise<Response> {
  const { limit, cursor: after } = listParams<[string, string]>(url, ["time", "uuid"]);
  const { leases: rows, ...rest } = await deps.store.leases(after, limit) as Json & {
    leases: Json[];
  };
  return json({
    ...rest,
    ...page(rows, limit, (r) => [(r.last_heartbeat ?? r.leased_at) as string, r.job_id as string]),
  });
}

async function recoveries({ url, deps }: Ctx): Promise<Response> {
  const { limit, cursor: before } = listParams<[string, number]>(url, ["time", "id"]);
  const rows = await deps.store.recoveries(before, limit);
  return json(page(rows, limit, (r) => [r.at as string, r.id as number]));
}

async function workers({ url, deps }: Ctx): Promise<Response> {
  need(onlyParams(url.searchParams, ["limit"]));
  const limit = need(pageSize(url.searchParams));
  return json({ items: await deps.store.workers(limit) });
}

async function dlq({ url, deps }: Ctx): Promise<Response> {
  const { limit, cursor: before } = listParams<[string, string]>(url, ["time", "text"]);
  const [recorded, queues] = await Promise.all([
    deps.store.deadLetters(before, limit),
    within(SECONDARY_TIMEOUT_MS, deps.queueDepths),
  ]);
  const { letters, ...rest } = recorded as Json & { letters: Json[] };
  return json({
    ...rest,
    sqs_depth: queues?.dlqDepth ?? null,
    ...page(letters, limit, (r) => [r.first_seen_at as string, r.message_id as string]),
  });
}

async function alerts({ url, deps }: Ctx): Promise<Response> {
  const { limit, cursor: before } = listParams<[number]>(url, ["id"]);
  const { alerts: rows, ...rest } = await deps.store.alerts(before?.[0] ?? null, limit) as Json & {
    alerts: Json[];
  };
  return json({ ...rest, ...page(rows, limit, (r) => [r.id as number]) });
}

/** The windows a series may cover, and the step of its points. */
export const WINDOWS: Record<string, { span: string; stepSeconds: number }> = {
  "1h": { span: "1 hour", stepSeconds: 60 },
  "24h": { span: "24 hours", stepSeconds: 900 },
  "7d": { span: "7 days", stepSeconds: 7_200 },
};

async function rateLimits({ url, deps }: Ctx): Promise<Response> {
  need(onlyParams(url.searchParams, ["window"]));
  const name = url.searchParams.get("window") ?? "1h";
  const window = WINDOWS[name];
  if (!window) {
    throw problem({
      code: "invalid_query",
      message: `window must be one of ${Object.keys(WINDOWS).join(", ")}.`,
      field: "window",
    });
  }
  const refusals = await deps.store.refusals(window.span, window.stepSeconds, 20);
  return json({ window: name, step_seconds: window.stepSeconds, ...refusals });
}

async function schedules({ url, deps }: Ctx): Promise<Response> {
  need(onlyParams(url.searchParams, ["runs"]));
  const runs = need(pageSize(url.searchParams, 50, "runs", 10));
  return json({ items: await deps.store.schedules(runs) });
}

async function operations({ url, deps }: Ctx): Promise<Response> {
  const { limit, cursor: before } = listParams<[number]>(url, ["id"]);
  const rows = await deps.store.operations(before?.[0] ?? null, limit);
  return json(page(rows, limit, (r) => [r.id as number]));
}

async function operation({ params, deps }: Ctx): Promise<Response> {
  const id = Number(params[0]);
  const found = Number.isSafeInteger(id) ? await deps.store.operation(id) : null;
  if (!found) return errorResponse(404, "operation_not_found", "No operation has this id.");
  return json(found);
}

async function auditTrail({ url, deps }: Ctx): Promise<Response> {
  const { limit, cursor: before } = listParams<[number]>(url, ["id"]);
  const rows = await deps.store.audit(before?.[0] ?? null, limit);
  return json(page(rows, limit, (r) => [r.id as number]));
}

// ---------------------------------------------------------------------------------------------
// Actions.

const DONE: Record<BulkAction, string> = { retry: "retried", cancel: "cancelled" };

async function actOnJob(ctx: Ctx, action: BulkAction): Promise<Response> {
  await ctx.req.body?.cancel();
  const id = ctx.params[0]!.toLowerCase();
  const [result] = await ctx.deps.store.act(action, [id], ctx.member.actor);
  const outcome = result?.outcome ?? "not_found";
  const changed = outcome === DONE[action];
  await audit(ctx, action, { job_ids: [id] }, changed ? 1 : 0, changed ? "ok" : "refused", {
    outcome,
  });
  if (outcome === "not_found") return errorResponse(404, "job_not_found", "No job has this id.");
  if (!changed) {
    const needs = action === "retry" ? "failed" : "pending";
    return errorResponse(
      409,
      `job_not_${needs}`,
      `Only a ${needs} job can be ${DONE[action]}; this one is not (any more).`,
    );
  }
  return json({ job_id: id, outcome });
}

/** Runs an operation's batches until it is done or the budget is spent (pg_cron resumes it). */
async function runOperation(deps: ConsoleDeps, id: number): Promise<void> {
  const until = deps.now() + deps.operationBudgetMs;
  try {
    while (deps.now() < until) {
      const op = await deps.store.runBatch(id, deps.batchSize);
      // Finished, held by another runner, or a batch failed: pg_cron's step tries it again.
      if (!op || op.status !== "running" || op.failures > 0) return;
    }
  } catch (error) {
    // The operation stays running; resume-console-operations picks it up within two minutes.
    deps.log(`console-api: operation ${id}: ${error instanceof Error ? error.message : error}`);
  }
}

async function startOperation(ctx: Ctx): Promise<Response> {
  const request = need(operationRequest(await body(ctx.req)));
  const { deps, member } = ctx;
  const target = request.ids ? { ids: request.ids } : { filter: request.filter! };
  if (request.dryRun) {
    const matching = await deps.store.countMatching(request.action, target);
    return json({ dry_run: true, action: request.action, ...target, matching });
  }
  // Recorded and audited in one transaction (a viewer never gets here: the route needs to act).
  const op: Operation = await deps.store.startOperation(
    request.action,
    target,
    member.actor,
    member.role === "service" ? "service" : "operator",
  );
  deps.background(runOperation(deps, op.id));
  return json({ operation: op }, 202);
}

async function redrive(ctx: Ctx): Promise<Response> {
  const request = need(redriveRequest(await body(ctx.req)));
  const { status, body: answer } = await ctx.deps.redrive(request);
  const moved = (answer.moved ?? {}) as Record<string, number>;
  const affected = Object.values(moved).reduce((sum, n) => sum + n, 0);
  if (!request.dryRun) {
    await audit(
      ctx,
      "dlq_redrive",
      { limit: request.limit },
      affected,
      status < 300 ? "ok" : "failed",
      status < 300 ? { moved, skipped: answer.skipped ?? 0 } : { status, code: answer.code },
    );
  }
  if (status === 409) {
    return errorResponse(
      409,
      "dlq_busy",
      "A DLQ check or another redrive holds the queue; retry shortly.",
    );
  }
  if (status >= 300) {
    return errorResponse(502, "redrive_failed", "The DLQ monitor could not redrive; see its log.");
  }
  return json(answer);
}

// ---------------------------------------------------------------------------------------------

const ROUTES: Route[] = [
  {
    method: "GET",
    path: /^\/me$/,
    run: ({ member }) => Promise.resolve(json({ ...member, may_act: mayAct(member.role) })),
  },
  { method: "GET", path: /^\/overview$/, run: overview },
  { method: "GET", path: /^\/jobs$/, run: jobs },
  { method: "GET", path: new RegExp(`^/jobs/${ID}$`), run: job },
  {
    method: "POST",
    path: new RegExp(`^/jobs/${ID}/retry$`),
    acts: "retry",
    run: (c) => actOnJob(c, "retry"),
  },
  {
    method: "POST",
    path: new RegExp(`^/jobs/${ID}/cancel$`),
    acts: "cancel",
    run: (c) => actOnJob(c, "cancel"),
  },
  { method: "GET", path: /^\/leases$/, run: leases },
  { method: "GET", path: /^\/recoveries$/, run: recoveries },
  { method: "GET", path: /^\/workers$/, run: workers },
  { method: "GET", path: /^\/dlq$/, run: dlq },
  { method: "POST", path: /^\/dlq\/redrive$/, acts: "dlq_redrive", run: redrive },
  { method: "GET", path: /^\/alerts$/, run: alerts },
  { method: "GET", path: /^\/rate-limits$/, run: rateLimits },
  { method: "GET", path: /^\/schedules$/, run: schedules },
  { method: "GET", path: /^\/operations$/, run: operations },
  { method: "POST", path: /^\/operations$/, acts: "bulk_action", run: startOperation },
  { method: "GET", path: /^\/operations\/(\d{1,18})$/, run: operation },
  { method: "GET", path: /^\/audit$/, run: auditTrail },
];

function corsHeaders(origin: string): Record<string, string> {
  return {
    "access-control-allow-origin": origin,
    "access-control-allow-headers": "authorization, content-type, x-client-info, apikey",
    "access-control-allow-methods": "GET, POST, OPTIONS",
    "access-control-expose-headers": "retry-after, ratelimit, ratelimit-policy",
    "access-control-max-age": "600",
  };
}

/**
 * CORS for the configured origins, a preflight answered without a caller check, and no-store, on
 * every answer: outermost, so the rate limiter's 429 and 503 carry them too (a browser reads its
 * Retry-After instead of seeing a network error).
 */
export function withConsoleHeaders(
  handler: (req: Request) => Promise<Response>,
  allowedOrigins: string[],
): (req: Request) => Promise<Response> {
  return async (req) => {
    const origin = req.headers.get("origin");
    const allowed = origin !== null && allowedOrigins.includes(origin);
    let res: Response;
    if (req.method === "OPTIONS") {
      await req.body?.cancel();
      res = allowed
        ? new Response(null, { status: 204 })
        : errorResponse(403, "origin_not_allowed", "This origin may not call the console API.");
    } else {
      res = await handler(req);
    }
    const headers = new Headers(res.headers);
    headers.set("vary", "origin");
    if (allowed) { for (const [k, v] of Object.entries(corsHeaders(origin))) headers.set(k, v); }
    headers.set("cache-control", "no-store");
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  };
}

async function metrics(req: Request, deps: ConsoleDeps): Promise<Response> {
  if (!deps.metricsToken) {
    return errorResponse(
      404,
      "metrics_disabled",
      "Set METRICS_TOKEN to turn the metrics endpoint on.",
    );
  }
  const token = bearerToken(req);
  if (!token || !sameSecret(token, deps.metricsToken)) {
    return errorResponse(401, "unauthorized", "GET /metrics needs the metrics bearer token.", {
      headers: { "www-authenticate": "Bearer" },
    });
  }
  const [db, queues] = await Promise.all([
    deps.store.metrics(),
    within(SECONDARY_TIMEOUT_MS, deps.queueDepths),
  ]);
  const openMetrics = (req.headers.get("accept") ?? "").includes("application/openmetrics-text");
  const text = renderMetrics(
    { db: db as unknown as MetricsInput["db"], queues, now: deps.now() },
    openMetrics,
  );
  return new Response(text, {
    headers: { "content-type": openMetrics ? OPENMETRICS_TYPE : PROMETHEUS_TYPE },
  });
}

async function route(req: Request, deps: ConsoleDeps): Promise<Response> {
  const url = new URL(req.url);
  const path = url.pathname.replace(/^\/console-api/, "").replace(/\/$/, "") || "/";
  if (path === "/metrics") {
    if (req.method !== "GET") {
      return errorResponse(405, "method_not_allowed", "Use GET.", { headers: { allow: "GET" } });
    }
    return await metrics(req, deps);
  }
  const candidates = ROUTES.filter((r) => r.path.test(path));
  if (candidates.length === 0) {
    await req.body?.cancel();
    return errorResponse(404, "not_found", "No such console API path; see docs/console-api.md.");
  }
  const matched = candidates.find((r) => r.method === req.method);
  if (!matched) {
    await req.body?.cancel();
    const allow = [...new Set(candidates.map((r) => r.method))].join(", ");
    return errorResponse(405, "method_not_allowed", `Use ${allow}.`, { headers: { allow } });
  }

  const caller = await deps.identify(req);
  if (caller.kind !== "member") {
    await req.body?.cancel();
    if (caller.kind === "no_role") {
      return errorResponse(403, "console_role_required", "This account has no console role.");
    }
    return errorResponse(
      401,
      "unauthorized",
      caller.kind === "invalid"
        ? "The token is invalid or expired; sign in again."
        : "Sign in: a console token or the service role key is required.",
    );
  }
  const params = matched.path.exec(path)!.slice(1);
  if (params[0] !== undefined && matched.path.source.includes(ID) && !isUuid(params[0])) {
    await req.body?.cancel();
    return errorResponse(400, "invalid_id", "The job id in the path is not a UUID.", {
      extra: { field: "id" },
    });
  }
  const ctx: Ctx = {
    req,
    url,
    params,
    member: { role: caller.role, actor: caller.actor },
    deps,
  };
  if (matched.acts && !mayAct(caller.role)) {
    await req.body?.cancel();
    const jobId = ctx.params[0];
    await audit(ctx, matched.acts, jobId ? { job_ids: [jobId.toLowerCase()] } : {}, 0, "refused", {
      reason: "the viewer role may not act",
    });
    return errorResponse(403, "operator_role_required", "Only an operator may do this.");
  }
  return await matched.run(ctx);
}

export async function handle(req: Request, deps: ConsoleDeps): Promise<Response> {
  try {
    return await route(req, deps);
  } catch (thrown) {
    return thrown instanceof Response ? thrown : internalError("console-api", thrown);
  }
}
