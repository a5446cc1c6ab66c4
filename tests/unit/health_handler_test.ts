import assert from "node:assert/strict";
import { handle, type HealthDeps } from "../../supabase/functions/health/handler.ts";
import { loadConfig } from "../../supabase/functions/health/config.ts";
import { isLate, scheduleSeconds, type Snapshot } from "../../supabase/functions/health/status.ts";

const STARTED = Date.parse("2026-11-22T10:00:00Z");
const NOW = STARTED + 12_345;
const minutesAgo = (m: number) => new Date(NOW - m * 60_000).toISOString();

/** Scenario: everything fine. Each test changes one thing. */
function healthySnapshot(): Snapshot {
  return {
    jobs_pending: 3,
    jobs_in_progress: 2,
    jobs_completed_today: 40,
    jobs_failed_today: 1,
    workers_active: 2,
    jobs_stale: 0,
    outbox_waiting: 0,
    misconfigured: [],
    cron_jobs: [
      {
        name: "recover-stale-jobs",
        schedule: "* * * * *",
        active: true,
        last_run: minutesAgo(0.5),
        last_status: "succeeded",
      },
      {
        name: "prune-history",
        schedule: "17 3 * * *",
        active: true,
        last_run: null,
        last_status: null,
      },
    ],
  };
}

function deps(overrides: Partial<HealthDeps> = {}, snapshot: Partial<Snapshot> = {}): HealthDeps {
  return {
    snapshot: () => Promise.resolve({ ...healthySnapshot(), ...snapshot }),
    queueDepths: () =>
      Promise.resolve({ depth: 5, lanes: { high: 1, default: 4, low: 0 }, dlqDepth: 0 }),
    dbTimeoutMs: 200,
    sqsTimeoutMs: 200,
    now: () => NOW,
    startedAt: STARTED,
    ...overrides,
  };
}

const get = (path = "/health", headers: Record<string, string> = {}, method = "GET") =>
  new Request(`http://x${path}`, { method, headers });

function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const original = console.error;
  console.error = () => {};
  return fn().finally(() => (console.error = original));
}

Deno.test("healthy: the shape existing monitors parse, plus queue and scheduler", async () => {
  const res = await handle(get(), deps());
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const body = await res.json();
  assert.equal(body.status, "healthy");
  assert.equal(body.timestamp, "2026-11-22T10:00:12.345Z");
  assert.equal(body.uptime, 12.3);
  assert.equal(body.services.database.status, "up");
  assert.equal(typeof body.services.database.latency, "number");
  assert.deepEqual(body.services.workers, { status: "up", active_count: 2, stale_count: 0 });
  assert.deepEqual(body.services.queue, {
    status: "up",
    depth: 5,
    lanes: { high: 1, default: 4, low: 0 },
    dlq_depth: 0,
  });
  assert.equal(body.services.scheduler.status, "up");
  assert.deepEqual(body.services.scheduler.jobs[0], {
    name: "recover-stale-jobs",
    schedule: "* * * * *",
    last_run: minutesAgo(0.5),
    last_status: "succeeded",
    late: false,
  });
  assert.deepEqual(body.metrics, {
    jobs_pending: 3,
    jobs_in_progress: 2,
    jobs_completed_today: 40,
    jobs_failed_today: 1,
  });
  assert.deepEqual(body.reasons, []);
});

Deno.test("each degrading condition, on its own, makes the status degraded (200)", async () => {
  const late = healthySnapshot().cron_jobs.map((j, i) =>
    i === 0 ? { ...j, last_run: minutesAgo(5) } : j
  );
  const failed = healthySnapshot().cron_jobs.map((j, i) =>
    i === 0 ? { ...j, last_status: "failed" } : j
  );
  const cases: [string, Partial<HealthDeps>, Partial<Snapshot>, RegExp][] = [
    ["stale jobs", {}, { jobs_stale: 2 }, /2 stale job/],
    ["pending work, no worker", {}, { workers_active: 0 }, /pending job\(s\) and no live worker/],
    ["outbox stuck", {}, { outbox_waiting: 4 }, /not sent to SQS/],
    [
      "dead letters",
      {
        queueDepths: () =>
          Promise.resolve({ depth: 0, lanes: { high: 0, default: 0, low: 0 }, dlqDepth: 3 }),
      },
      {},
      /dead-letter/,
    ],
    [
      "SQS down",
      { queueDepths: () => Promise.reject(new Error("ECONNREFUSED")) },
      {},
      /SQS is not answering/,
    ],
    ["cron job late", {}, { cron_jobs: late }, /recover-stale-jobs is late/],
    ["cron job failed", {}, { cron_jobs: failed }, /failed its last run/],
    [
      "Slack webhook misconfigured",
      {},
      { misconfigured: [{ name: "slack", detail: "webhook answered 404" }] },
      /slack is misconfigured: webhook answered 404/,
    ],
  ];
  for (const [what, over, snap, reason] of cases) {
    const res = await quietly(() => handle(get(), deps(over, snap)));
    assert.equal(res.status, 200, what);
    const body = await res.json();
    assert.equal(body.status, "degraded", what);
    assert.match(body.reasons.join("; "), reason, what);
  }
});

Deno.test("no workers and no pending work is still healthy", async () => {
  const res = await handle(get(), deps({}, { workers_active: 0, jobs_pending: 0 }));
  const body = await res.json();
  assert.equal(body.status, "healthy");
  assert.equal(body.services.workers.status, "down");
});

Deno.test("database down: 503 unhealthy, database down, no internal error text", async () => {
  const res = await quietly(() =>
    handle(
      get(),
      deps({
        snapshot: () =>
          Promise.reject(new Error("password authentication failed for user postgres")),
      }),
    )
  );
  assert.equal(res.status, 503);
  const text = await res.text();
  assert.ok(!/password|postgres|authentication/.test(text), text);
  const body = JSON.parse(text);
  assert.equal(body.status, "unhealthy");
  assert.deepEqual(body.services.database, { status: "down", latency: null });
  assert.equal(body.services.workers.status, "unknown");
});

Deno.test("a hanging database and a hanging SQS answer within their timeouts", async () => {
  const never = () => new Promise<never>(() => {});
  const started = performance.now();
  const res = await quietly(() => handle(get(), deps({ snapshot: never, queueDepths: never })));
  const elapsed = performance.now() - started;
  assert.equal(res.status, 503);
  assert.ok(elapsed < 1_000, `answered after ${elapsed.toFixed(0)} ms`);
  await res.body?.cancel();
});

Deno.test("Accept: application/health+json gets the IETF format", async () => {
  const accept = { accept: "application/health+json" };
  const pass = await handle(get("/health", accept), deps());
  assert.equal(pass.headers.get("content-type"), "application/health+json");
  const body = await pass.json();
  assert.equal(body.status, "pass");
  assert.equal(body.checks["database:responseTime"][0].observedUnit, "ms");
  assert.equal(body.checks["workers:active"][0].observedValue, 2);
  assert.deepEqual(
    body.checks["queue:laneDepth"].map((c: { componentId: string; observedValue: number }) => [
      c.componentId,
      c.observedValue,
    ]),
    [["high", 1], ["default", 4], ["low", 0]],
  );
  assert.equal(body.checks["scheduler:recover-stale-jobs"][0].status, "pass");
  const warn = await handle(get("/health", accept), deps({}, { jobs_stale: 1 }));
  assert.equal((await warn.json()).status, "warn");
  const fail = await quietly(() =>
    handle(get("/health", accept), deps({ snapshot: () => Promise.reject(new Error("down")) }))
  );
  assert.equal(fail.status, 503);
  assert.equal((await fail.json()).status, "fail");
});

Deno.test("/health/live touches nothing", async () => {
  let touched = false;
  const touch = () => {
    touched = true;
    return Promise.reject(new Error("should not be called"));
  };
  const res = await handle(get("/health/live"), deps({ snapshot: touch, queueDepths: touch }));
  assert.equal(res.status, 200);
  assert.equal((await res.json()).status, "ok");
  assert.equal(touched, false);
});

Deno.test("other methods and paths get the error envelope", async () => {
  const post = await handle(get("/health", {}, "POST"), deps());
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET");
  assert.equal((await post.json()).code, "method_not_allowed");
  const other = await handle(get("/health/secrets"), deps());
  assert.equal(other.status, 404);
  await other.body?.cancel();
});

Deno.test("scheduleSeconds() and isLate() read the schedules the migrations use", () => {
  assert.equal(scheduleSeconds("* * * * *"), 60);
  assert.equal(scheduleSeconds("*/10 * * * *"), 600);
  assert.equal(scheduleSeconds("17 3 * * *"), 86_400);
  assert.equal(scheduleSeconds("0 0 1 * *"), undefined);
  const job = { name: "j", schedule: "* * * * *", active: true, last_status: "succeeded" };
  assert.equal(isLate({ ...job, last_run: minutesAgo(2.9) }, NOW), false);
  assert.equal(isLate({ ...job, last_run: minutesAgo(3.1) }, NOW), true);
  assert.equal(isLate({ ...job, last_run: null }, NOW), false, "never ran: not late");
  assert.equal(isLate({ ...job, active: false, last_run: minutesAgo(60) }, NOW), false);
});

Deno.test("loadConfig() stops with the missing variable's name", () => {
  assert.throws(() => loadConfig({}), /Cannot start health: SUPABASE_DB_URL is not set/);
  assert.throws(
    () =>
      loadConfig({
        SUPABASE_DB_URL: "postgres://x",
        SUPABASE_SERVICE_ROLE_KEY: "service-key",
        SQS_QUEUE_URL: "http://q",
        AWS_REGION: "us-east-1",
        HEALTH_DB_TIMEOUT_MS: "soon",
      }),
    /HEALTH_DB_TIMEOUT_MS must be a non-negative integer/,
  );
});

Deno.test("loadConfig() parses the rate-limit settings too, and keeps no raw env", () => {
  const config = loadConfig({
    SUPABASE_DB_URL: "postgres://x",
    SUPABASE_SERVICE_ROLE_KEY: "service-key",
    SQS_QUEUE_URL: "http://q",
    AWS_REGION: "us-east-1",
    RATE_LIMIT_HEALTH: "relaxed",
    RATE_LIMIT_MEMORY_KEYS: "50",
  });
  assert.equal(config.rateLimit.fn, "health");
  assert.deepEqual(config.rateLimit.policies.map((p) => p.name), ["relaxed"]);
  assert.deepEqual(config.rateLimit.clientIp, { kind: "xff", hops: 1 });
  assert.equal(config.rateLimit.memoryKeys, 50);
  assert.equal(config.rateLimit.timeoutMs, 1_000);
  assert.deepEqual(config.serviceKeys, ["service-key"], "to give the service role its own policy");
  assert.ok(!("env" in config));
});
