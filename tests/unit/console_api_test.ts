/** console-api's handler in memory: access, CORS, input checks, actions, metrics. */
import assert from "node:assert/strict";
import type { ConsoleCaller } from "../../supabase/functions/console-api/access.ts";
import { loadConfig } from "../../supabase/functions/console-api/config.ts";
import {
  type ConsoleDeps,
  handle,
  withConsoleHeaders,
} from "../../supabase/functions/console-api/handler.ts";
import { latencySummary, quantileMs } from "../../supabase/functions/console-api/histogram.ts";
import { decodeCursor, encodeCursor } from "../../supabase/functions/console-api/params.ts";
import type {
  AuditEntry,
  ConsoleStore,
  Operation,
} from "../../supabase/functions/console-api/store.ts";

const ORIGIN = "https://ops.example.com";
const METRICS_TOKEN = "metrics-token-of-some-length";
const JOB = "6f9a2c1e-0d4b-4e8a-9c3f-1a2b3c4d5e6f";

const CALLERS: Record<string, ConsoleCaller> = {
  anonymous: { kind: "anonymous" },
  invalid: { kind: "invalid" },
  customer: { kind: "no_role", subject: "user:cust" },
  viewer: { kind: "member", role: "viewer", actor: "v@x (v)" },
  operator: { kind: "member", role: "operator", actor: "o@x (o)" },
};

interface Fake {
  deps: ConsoleDeps;
  calls: string[];
  audits: AuditEntry[];
  background: Promise<unknown>[];
}

function fake(overrides: Partial<ConsoleStore> = {}, deps: Partial<ConsoleDeps> = {}): Fake {
  const calls: string[] = [];
  const audits: AuditEntry[] = [];
  const background: Promise<unknown>[] = [];
  let batches = 0;
  const op = (status: Operation["status"]): Operation => ({
    id: 7,
    action: "cancel",
    status,
    estimated: 3,
    processed: batches,
    changed: batches,
    failures: 0,
  });
  const record = <T>(name: string, value: T) => () => {
    calls.push(name);
    return Promise.resolve(value);
  };
  const store: ConsoleStore = {
    overview: record("overview", {
      jobs: {},
      latency_1h: { bounds_ms: [10, 100], buckets: [0, 4, 0] },
    }),
    jobs: record("jobs", [{ id: JOB, created_at: "2026-11-30T00:00:00.000Z" }]),
    job: (id) => {
      calls.push(`job ${id}`);
      return Promise.resolve(id === JOB ? { job: { id: JOB } } : null);
    },
    leases: record("leases", { leases: [] }),
    recoveries: record("recoveries", []),
    workers: record("workers", []),
    deadLetters: record("deadLetters", { letters: [] }),
    alerts: record("alerts", { alerts: [] }),
    schedules: record("schedules", []),
    operations: record("operations", []),
    operation: record("operation", null),
    audit: record("audit", []),
    refusals: record("refusals", { policies: [], top_clients: [] }),
    act: (action, ids) => {
      calls.push(`act ${action} ${ids.join(",")}`);
      return Promise.resolve(ids.map((id) => ({
        job_id: id,
        outcome: id === JOB ? (action === "retry" ? "retried" : "cancelled") : "not_found",
      })));
    },
    countMatching: record("countMatching", 42),
    startOperation: record("startOperation", op("running")),
    runBatch: () => {
      batches++;
      calls.push("runBatch");
      return Promise.resolve(op(batches >= 3 ? "done" : "running"));
    },
    recordAudit: (entry) => {
      audits.push(entry);
      return Promise.resolve();
    },
    metrics: record("metrics", {
      jobs: { pending: { count: 3, exact: true }, completed: { count: 20000, exact: false } },
      events_total: { enqueued: 10, completed: 8 },
      latency_bounds_ms: [10, 100],
      latency_buckets: [1, 2, 3],
      latency_sum_ms: 1234,
      stats_rolled_up_to: "2026-11-30T00:00:00.000Z",
      workers_active: 2,
      leases: 1,
      outbox_waiting: 0,
      dead_letters_recorded: 0,
      alert_attempts: { delivered: 1, failed: 2 },
      alerts_undelivered: 0,
      operations_running: 0,
      refusals_total: [{ function: "queue", policy: "standard", refused: 7 }],
    }),
    ...overrides,
  };
  return {
    calls,
    audits,
    background,
    deps: {
      identify: (req) => Promise.resolve(CALLERS[req.headers.get("x-test-caller") ?? "anonymous"]!),
      store,
      health: () => Promise.resolve({ status: "pass" }),
      queueDepths: () =>
        Promise.resolve({ depth: 1, lanes: { high: 0, default: 1, low: 0 }, dlqDepth: 2 }),
      redrive: () => Promise.resolve({ status: 200, body: { moved: { requeued: 2 }, skipped: 0 } }),
      background: (work) => background.push(work),
      metricsToken: METRICS_TOKEN,
      batchSize: 100,
      operationBudgetMs: 60_000,
      now: () => Date.parse("2026-11-30T00:01:30.000Z"),
      log: () => {},
      ...deps,
    },
  };
}

function call(
  f: Fake,
  path: string,
  options: { caller?: string; method?: string; body?: unknown; headers?: HeadersInit } = {},
) {
  const headers = new Headers(options.headers);
  if (options.caller) headers.set("x-test-caller", options.caller);
  // As index.ts serves it (less the rate limiter): the headers wrapper around the handler.
  return withConsoleHeaders((req) => handle(req, f.deps), [ORIGIN])(
    new Request(`http://x/console-api${path}`, {
      method: options.method ?? "GET",
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    }),
  );
}

const READS = [
  "/me",
  "/overview",
  "/jobs",
  `/jobs/${JOB}`,
  "/leases",
  "/recoveries",
  "/workers",
  "/dlq",
  "/alerts",
  "/rate-limits?window=24h",
  "/schedules",
  "/operations",
  "/audit",
];
const ACTIONS: [string, unknown][] = [
  [`/jobs/${JOB}/retry`, undefined],
  [`/jobs/${JOB}/cancel`, undefined],
  ["/operations", { action: "cancel", filter: { status: "pending" } }],
  ["/dlq/redrive", { limit: 5 }],
];

Deno.test("console-api: no data without a console role (anonymous and bad tokens 401, customers 403)", async () => {
  for (const who of ["anonymous", "invalid", "customer"]) {
    const f = fake();
    for (const path of READS) {
      const res = await call(f, path, { caller: who });
      assert.equal(res.status, who === "customer" ? 403 : 401, `${who} ${path}`);
      const body = await res.json();
      assert.deepEqual(Object.keys(body).sort(), ["code", "error", "message"]);
      assert.equal(res.headers.get("cache-control"), "no-store");
    }
    for (const [path, body] of ACTIONS) {
      const res = await call(f, path, { caller: who, method: "POST", body });
      assert.equal(res.status, who === "customer" ? 403 : 401, `${who} POST ${path}`);
      await res.body?.cancel();
    }
    assert.deepEqual(f.calls, [], "nothing was read or done");
  }
});

Deno.test("console-api: a viewer reads everything and may not act; the refusal is audited", async () => {
  const f = fake();
  for (const path of READS) {
    const res = await call(f, path, { caller: "viewer" });
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("cache-control"), "no-store");
    await res.body?.cancel();
  }
  const before = f.calls.length;
  for (const [path, body] of ACTIONS) {
    const res = await call(f, path, { caller: "viewer", method: "POST", body });
    assert.equal(res.status, 403, path);
    assert.equal((await res.json()).code, "operator_role_required");
  }
  assert.equal(f.calls.length, before, "no action ran");
  assert.deepEqual(
    f.audits.map((a) => [a.action, a.role, a.result]),
    [
      ["retry", "viewer", "refused"],
      ["cancel", "viewer", "refused"],
      ["bulk_action", "viewer", "refused"],
      ["dlq_redrive", "viewer", "refused"],
    ],
  );
  const me = await (await call(f, "/me", { caller: "viewer" })).json();
  assert.deepEqual(me, { role: "viewer", actor: "v@x (v)", may_act: false });
});

Deno.test("console-api: an operator retries and cancels a job; each action is audited", async () => {
  const f = fake();
  const retried = await call(f, `/jobs/${JOB}/retry`, { caller: "operator", method: "POST" });
  assert.equal(retried.status, 200);
  assert.deepEqual(await retried.json(), { job_id: JOB, outcome: "retried" });
  const missing = "00000000-0000-4000-8000-000000000000";
  const gone = await call(f, `/jobs/${missing}/cancel`, { caller: "operator", method: "POST" });
  assert.equal(gone.status, 404);
  await gone.body?.cancel();
  assert.deepEqual(f.audits.map((a) => [a.action, a.actor, a.affected, a.result]), [
    ["retry", "o@x (o)", 1, "ok"],
    ["cancel", "o@x (o)", 0, "refused"],
  ]);
});

Deno.test("console-api: a job that is not in the right state answers 409", async () => {
  const f = fake({
    act: (_action, ids) =>
      Promise.resolve(ids.map((id) => ({ job_id: id, outcome: "not_pending" }))),
  });
  const res = await call(f, `/jobs/${JOB}/cancel`, { caller: "operator", method: "POST" });
  assert.equal(res.status, 409);
  assert.equal((await res.json()).code, "job_not_pending");
});

Deno.test("console-api: a bulk action's dry run counts; the real one answers 202 and runs in batches", async () => {
  const f = fake();
  const dry = await call(f, "/operations", {
    caller: "operator",
    method: "POST",
    body: { action: "cancel", filter: { customer_id: "acme" }, dry_run: true },
  });
  assert.deepEqual(await dry.json(), {
    dry_run: true,
    action: "cancel",
    filter: { customer_id: "acme" },
    matching: 42,
  });
  assert.equal(f.audits.length, 0, "a dry run changes nothing and is not an action");
  const res = await call(f, "/operations", {
    caller: "operator",
    method: "POST",
    body: { action: "cancel", filter: { customer_id: "acme" } },
  });
  assert.equal(res.status, 202);
  assert.equal((await res.json()).operation.id, 7);
  await Promise.all(f.background);
  assert.equal(f.calls.filter((c) => c === "runBatch").length, 3, "batches until done");
  assert.ok(f.calls.includes("startOperation"), "recorded (and audited, in SQL) before it runs");
});

Deno.test("console-api: a batch the database reports failed stops the instance's runner (pg_cron tries again)", async () => {
  let batches = 0;
  const f = fake({
    runBatch: () => {
      batches++;
      return Promise.resolve({
        id: 7,
        action: "retry",
        status: "running",
        estimated: 9,
        processed: 0,
        changed: 0,
        failures: 1,
      });
    },
  });
  const res = await call(f, "/operations", {
    caller: "operator",
    method: "POST",
    body: { action: "retry", filter: {} },
  });
  await res.body?.cancel();
  await Promise.all(f.background);
  assert.equal(batches, 1);
});

Deno.test("console-api: a batch that throws leaves the operation to pg_cron, logged, not thrown", async () => {
  const logged: string[] = [];
  const f = fake({ runBatch: () => Promise.reject(new Error("connection lost")) }, {
    log: (line) => logged.push(line),
  });
  const res = await call(f, "/operations", {
    caller: "operator",
    method: "POST",
    body: { action: "retry", ids: [JOB] },
  });
  assert.equal(res.status, 202);
  await res.body?.cancel();
  await Promise.all(f.background);
  assert.match(logged[0]!, /operation 7: connection lost/);
});

Deno.test("console-api: bad input gets a 400 naming the field, and nothing runs", async () => {
  const f = fake();
  const cases: [string, { method?: string; body?: unknown }, string, string?][] = [
    ["/jobs?status=lost", {}, "invalid_filter", "status"],
    ["/jobs?colour=red", {}, "unknown_parameter", "colour"],
    ["/jobs?limit=0", {}, "invalid_query", "limit"],
    ["/jobs?limit=201", {}, "invalid_query", "limit"],
    ["/jobs?cursor=bm9wZQ", {}, "invalid_cursor", "cursor"],
    ["/jobs?id=42", {}, "invalid_query", "id"],
    ["/jobs?created_after=yesterday", {}, "invalid_filter", "created_after"],
    ["/leases?cursor=WyJ4Il0", {}, "invalid_cursor", "cursor"],
    ["/schedules?runs=51", {}, "invalid_query", "runs"],
    ["/jobs?created_after=0000-01-01", {}, "invalid_filter", "created_after"],
    ["/jobs?created_after=1", {}, "invalid_filter", "created_after"],
    [
      `/jobs?cursor=${encodeCursor(["1", JOB])}`,
      {},
      "invalid_cursor",
      "cursor",
    ],
    [`/jobs/${"-".repeat(36)}`, {}, "invalid_id", "id"],
    [`/jobs/${"a".repeat(36)}/retry`, { method: "POST" }, "invalid_id", "id"],
    ["/rate-limits?window=1y", {}, "invalid_query", "window"],
    ["/operations", { method: "POST", body: { action: "delete", ids: [JOB] } }, "invalid_field"],
    [
      "/operations",
      {
        method: "POST",
        body: { action: "retry", ids: [JOB], filter: {} },
      },
      "invalid_field",
      "ids",
    ],
    ["/operations", { method: "POST", body: { action: "retry", ids: ["x"] } }, "invalid_field"],
    [
      "/operations",
      {
        method: "POST",
        body: { action: "retry", filter: { nope: 1 } },
      },
      "unknown_filter",
      "nope",
    ],
    ["/operations", { method: "POST", body: [1] }, "invalid_body"],
    ["/dlq/redrive", { method: "POST", body: { limit: 0 } }, "invalid_field", "limit"],
    ["/dlq/redrive", { method: "POST", body: { dryRun: true } }, "unknown_field", "dryRun"],
  ];
  for (const [path, options, code, field] of cases) {
    const res = await call(f, path, { caller: "operator", ...options });
    assert.equal(res.status, 400, path);
    const body = await res.json();
    assert.equal(body.code, code, `${path} ${JSON.stringify(options.body)}`);
    if (field) assert.equal(body.field, field, path);
  }
  const broken = await handle(
    new Request("http://x/console-api/operations", {
      method: "POST",
      headers: { "x-test-caller": "operator" },
      body: "{",
    }),
    f.deps,
  );
  assert.equal(broken.status, 400);
  assert.equal((await broken.json()).code, "invalid_json");
  assert.deepEqual(f.calls, [], "nothing was read or written");
  assert.deepEqual(f.audits, []);
});

Deno.test("console-api: unknown paths 404 and wrong methods 405, before any caller check", async () => {
  const f = fake();
  assert.equal((await call(f, "/nope")).status, 404);
  const res = await call(f, "/overview", { method: "DELETE" });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "GET");
});

Deno.test("console-api: CORS only for the configured origins, preflight included", async () => {
  const f = fake();
  const allowed = await call(f, "/me", { caller: "viewer", headers: { origin: ORIGIN } });
  assert.equal(allowed.headers.get("access-control-allow-origin"), ORIGIN);
  assert.equal(allowed.headers.get("vary"), "origin");
  await allowed.body?.cancel();
  const other = await call(f, "/me", {
    caller: "viewer",
    headers: { origin: "https://evil.test" },
  });
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  await other.body?.cancel();
  const preflight = await call(f, "/jobs", { method: "OPTIONS", headers: { origin: ORIGIN } });
  assert.equal(preflight.status, 204);
  assert.match(preflight.headers.get("access-control-allow-headers")!, /authorization/);
  const refused = await call(f, "/jobs", {
    method: "OPTIONS",
    headers: { origin: "https://evil.test" },
  });
  assert.equal(refused.status, 403);
  await refused.body?.cancel();
  // The rate limiter's 429 (inside the wrapper, as index.ts serves it) carries CORS too.
  const limited = await withConsoleHeaders(
    () => Promise.resolve(new Response("{}", { status: 429, headers: { "retry-after": "7" } })),
    [ORIGIN],
  )(new Request("http://x/console-api/jobs", { headers: { origin: ORIGIN } }));
  assert.equal(limited.headers.get("access-control-allow-origin"), ORIGIN);
  assert.match(limited.headers.get("access-control-expose-headers")!, /retry-after/);
  assert.equal(limited.headers.get("cache-control"), "no-store");
  await limited.body?.cancel();
});

Deno.test("console-api: an unexpected error is a 500 without its detail", async () => {
  const f = fake({
    overview: () => Promise.reject(new Error("relation secret_table does not exist")),
  });
  const res = await call(f, "/overview", { caller: "viewer" });
  assert.equal(res.status, 500);
  const text = await res.text();
  assert.ok(!text.includes("secret_table"));
  assert.equal(JSON.parse(text).code, "internal_error");
});

Deno.test("console-api: the overview survives a silent health function and SQS, and says so", async () => {
  const never = () => new Promise<never>(() => {});
  const f = fake({}, { health: never, queueDepths: never });
  const started = Date.now();
  const body = await (await call(f, "/overview", { caller: "viewer" })).json();
  assert.ok(Date.now() - started < 5_000);
  assert.equal(body.health.status, "unknown");
  assert.match(body.queues.error, /SQS/);
  assert.deepEqual(body.latency_1h.samples, 4);
});

Deno.test("console-api: GET /metrics needs its own token and speaks Prometheus or OpenMetrics", async () => {
  const f = fake();
  assert.equal(
    (await call(f, "/metrics", { caller: "operator" })).status,
    401,
    "a console role is not enough",
  );
  const wrong = await call(f, "/metrics", { headers: { authorization: "Bearer nope" } });
  assert.equal(wrong.status, 401);
  await wrong.body?.cancel();
  const res = await call(f, "/metrics", { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assert.match(text, /^# TYPE job_queue_events_total counter$/m);
  assert.match(text, /^job_queue_events_total\{event="enqueued"\} 10$/m);
  assert.match(text, /^job_queue_jobs_exact\{status="completed"\} 0$/m);
  assert.match(text, /^job_queue_latency_seconds_bucket\{le="0\.1"\} 3$/m);
  assert.match(text, /^job_queue_latency_seconds_bucket\{le="\+Inf"\} 6$/m);
  assert.match(text, /^job_queue_latency_seconds_count 6$/m);
  assert.match(text, /^job_queue_latency_seconds_sum 1\.234$/m);
  assert.match(text, /^job_queue_dlq_messages 2$/m);
  assert.match(
    text,
    /^job_queue_rate_limit_refusals_total\{function="queue",policy="standard"\} 7$/m,
  );
  assert.match(text, /^job_queue_stats_lag_seconds 90$/m);
  assert.ok(!text.includes("# EOF"));
  const om = await call(f, "/metrics", {
    headers: {
      authorization: `Bearer ${METRICS_TOKEN}`,
      accept: "application/openmetrics-text; version=1.0.0",
    },
  });
  const omText = await om.text();
  assert.match(om.headers.get("content-type")!, /^application\/openmetrics-text/);
  assert.match(omText, /^# TYPE job_queue_events counter$/m);
  assert.match(omText, /# EOF\n$/);
  const off = fake({}, { metricsToken: undefined });
  const disabled = await call(off, "/metrics", { headers: { authorization: "Bearer x" } });
  assert.equal(disabled.status, 404);
  await disabled.body?.cancel();
});

Deno.test("quantileMs() interpolates within the bucket and says nothing without samples", () => {
  const bounds = [10, 100, 1000];
  assert.equal(quantileMs({ bounds_ms: bounds, buckets: [0, 0, 0, 0] }, 0.5), null);
  assert.equal(quantileMs({ bounds_ms: bounds, buckets: null }, 0.5), null);
  assert.equal(quantileMs({ bounds_ms: bounds, buckets: [0, 10, 0, 0] }, 0.5), 55);
  assert.equal(quantileMs({ bounds_ms: bounds, buckets: [5, 5, 0, 0] }, 0.95), 91);
  assert.equal(
    quantileMs({ bounds_ms: bounds, buckets: [0, 0, 0, 3] }, 0.5),
    1000,
    "past the last bound",
  );
  assert.deepEqual(latencySummary({ bounds_ms: bounds, buckets: [10, 0, 0, 0] }).p95_ms, 10);
});

Deno.test("cursors round-trip and reject what this API did not give out", () => {
  const cursor = encodeCursor(["2026-11-30T00:00:00.000Z", JOB]);
  assert.deepEqual(
    decodeCursor(new URLSearchParams({ cursor }), ["time", "uuid"]),
    { ok: true, value: ["2026-11-30T00:00:00.000Z", JOB] },
  );
  for (const bad of ["%%%", encodeCursor([1, 2]), encodeCursor(["x", JOB])]) {
    assert.equal(decodeCursor(new URLSearchParams({ cursor: bad }), ["time", "uuid"]).ok, false);
  }
});

Deno.test("loadConfig() for console-api: origins, the metrics token and batch size are checked", () => {
  const env = {
    SUPABASE_DB_URL: "postgres://x",
    SUPABASE_URL: "https://ref.supabase.co/",
    SUPABASE_SERVICE_ROLE_KEY: "k",
    SQS_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/1/jobs",
  };
  const config = loadConfig({
    ...env,
    CONSOLE_ALLOWED_ORIGINS: `${ORIGIN}, http://127.0.0.1:54323`,
  });
  assert.deepEqual(config.allowedOrigins, [ORIGIN, "http://127.0.0.1:54323"]);
  assert.equal(config.projectUrl, "https://ref.supabase.co");
  assert.equal(config.metricsToken, undefined);
  assert.equal(config.batchSize, 1000);
  assert.throws(
    () => loadConfig({ ...env, CONSOLE_ALLOWED_ORIGINS: "https://ops.example.com/path" }),
    /CONSOLE_ALLOWED_ORIGINS must list origins/,
  );
  assert.throws(() => loadConfig({ ...env, METRICS_TOKEN: "short" }), /at least 16/);
  assert.throws(() => loadConfig({ ...env, CONSOLE_BATCH_SIZE: "0" }), /1 to 10000/);
});
