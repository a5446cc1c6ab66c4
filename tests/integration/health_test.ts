/** The health function through the real gateway, database and SQS, including outages. */
import assert from "node:assert/strict";
import { control, testStack } from "../_support/stack.ts";

const stack = testStack();
const url = `${stack.apiUrl}/functions/v1/health`;

function assertNoSecrets(text: string): void {
  for (
    const secret of [stack.serviceRoleKey, stack.jwtSecret, stack.anonKey, "postgres:postgres"]
  ) {
    assert.ok(!text.includes(secret), "the health answer carries no secret");
  }
}

Deno.test("GET /functions/v1/health needs no key and reports every part", async () => {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.ok(res.headers.get("ratelimit-policy"), "health is rate limited");
  const text = await res.text();
  assertNoSecrets(text);
  const body = JSON.parse(text);
  assert.ok(["healthy", "degraded"].includes(body.status), body.status);
  assert.equal(body.services.database.status, "up");
  assert.equal(body.services.queue.status, "up");
  assert.equal(typeof body.services.queue.depth, "number");
  assert.deepEqual(
    body.services.scheduler.jobs.map((j: { name: string }) => j.name).sort(),
    [
      "dispatch-outbox",
      "dlq-monitor",
      "prune-history",
      "rate-limit-cleanup",
      "recover-stale-jobs",
      "resend-lost-jobs",
      "resume-console-operations",
      "roll-up-job-stats",
    ],
  );
  for (
    const key of ["jobs_pending", "jobs_in_progress", "jobs_completed_today", "jobs_failed_today"]
  ) {
    assert.equal(typeof body.metrics[key], "number", key);
  }
});

Deno.test("Accept: application/health+json gets the IETF format through the stack", async () => {
  const res = await fetch(url, { headers: { accept: "application/health+json" } });
  assert.equal(res.headers.get("content-type"), "application/health+json");
  const body = await res.json();
  assert.ok(["pass", "warn"].includes(body.status));
  assert.equal(body.checks["database:responseTime"][0].componentType, "datastore");
});

Deno.test("GET /functions/v1/health/live answers from the process alone", async () => {
  const res = await fetch(`${url}/live`);
  assert.equal(res.status, 200);
  assert.equal((await res.json()).status, "ok");
});

Deno.test("SQS stopped: degraded, queue down, still 200", async () => {
  await control("sqs", "stop");
  try {
    const res = await fetch(url);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status, "degraded");
    assert.equal(body.services.queue.status, "down");
    assert.match(body.reasons.join(" "), /SQS is not answering/);
  } finally {
    await control("sqs", "start");
  }
});

Deno.test("Postgres stopped: 503 with database down within about 2 seconds", async () => {
  await control("postgres", "stop");
  try {
    const started = performance.now();
    const res = await fetch(url);
    const elapsed = performance.now() - started;
    assert.equal(res.status, 503);
    const text = await res.text();
    assertNoSecrets(text);
    assert.ok(!/ECONNREFUSED|connect|stack/i.test(text), `no internal error text: ${text}`);
    const body = JSON.parse(text);
    assert.equal(body.status, "unhealthy");
    assert.deepEqual(body.services.database, { status: "down", latency: null });
    assert.ok(elapsed < 2_500, `answered in ${elapsed.toFixed(0)} ms`);
  } finally {
    await control("postgres", "start");
  }
  // Back by itself once Postgres is: no restart of the function needed.
  const deadline = Date.now() + 15_000;
  let status = 0;
  while (Date.now() < deadline) {
    const res = await fetch(url);
    status = res.status;
    await res.body?.cancel();
    if (status === 200) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(status, 200, "healthy again after Postgres returns");
});
