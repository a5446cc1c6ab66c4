/**
 * console-api over real HTTP, through the local gateway, against the real database and queues:
 * tokens verified through the JWKS the gateway publishes (as on hosted) and the legacy HS256
 * secret; who sees what; actions and tracked bulk actions; the metrics endpoint.
 */
import assert from "node:assert/strict";
import { generateKeyPair, SignJWT } from "jose";
import { mintConsoleToken, stackSigningKey } from "../../scripts/console_token.ts";
import { connect, eventually, first, testStack } from "../_support/stack.ts";
import { userJwt } from "../_support/pipeline.ts";
import { seedJobs, withCustomer } from "../_support/console_jobs.ts";

const stack = testStack();
const base = `${stack.apiUrl}/functions/v1/console-api`;
const signingKey = stackSigningKey(stack.stateDir);
const viewer = await mintConsoleToken(signingKey, { role: "viewer", issuer: stack.apiUrl });
const operator = await mintConsoleToken(signingKey, {
  role: "operator",
  email: "ops@example.com",
  issuer: stack.apiUrl,
});
const metricsToken = stack.metricsToken;

function get(path: string, token?: string): Promise<Response> {
  return fetch(`${base}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
}

function post(path: string, token: string, body?: unknown): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

const SECRETS = [
  stack.serviceRoleKey,
  stack.jwtSecret,
  stack.awsSecretAccessKey,
  metricsToken,
  signingKey.d!,
  "postgres:postgres",
];

Deno.test("console-api: no role, no data; a viewer reads through the JWKS path; no secret in any answer", async () => {
  const customer = await userJwt(stack, "acme");
  const other = await generateKeyPair("ES256", { extractable: true });
  const forged = await new SignJWT({
    role: "authenticated",
    app_metadata: { console_role: "operator" },
  })
    .setProtectedHeader({ alg: "ES256", kid: signingKey.kid })
    .setExpirationTime("5m")
    .sign(other.privateKey);
  const expired = await mintConsoleToken(signingKey, { role: "operator", minutes: -1 });
  for (
    const [who, token, status] of [
      ["nobody", undefined, 401],
      ["a forged operator token", forged, 401],
      ["an expired token", expired, 401],
      ["the anon key", stack.anonKey, 403],
      ["a customer", customer, 403],
      ["a user without a console role", await mintConsoleToken(signingKey, {}), 403],
    ] as const
  ) {
    const res = await get("/jobs", token);
    assert.equal(res.status, status, who);
    const body = await res.json();
    assert.equal(body.items, undefined, `${who} gets no data`);
  }
  const sql = connect(stack.dbUrl);
  const [{ api_key: apiKey }] = await sql<[{ api_key: string }]>`
    select api_key from private.issue_api_key('acme', 'console test')`;
  await sql.end();
  const withKey = await fetch(`${base}/jobs`, { headers: { "x-api-key": apiKey } });
  assert.equal(withKey.status, 401, "an API key is no console credential");
  assert.equal((await withKey.json()).items, undefined);

  for (
    const path of [
      "/me",
      "/overview",
      "/jobs",
      "/leases",
      "/recoveries",
      "/workers",
      "/dlq",
      "/alerts",
      "/rate-limits?window=7d",
      "/schedules",
      "/operations",
      "/audit",
      `/jobs/${(await (await get("/jobs?limit=1", viewer)).json()).items[0]?.id}`,
    ]
  ) {
    const res = await get(path, viewer);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("cache-control"), "no-store", path);
    const text = await res.text();
    for (const secret of SECRETS) assert.ok(!text.includes(secret), `${path} carries no secret`);
  }
});

Deno.test("console-api: a legacy HS256 token with a console role works too, and the service key", async () => {
  const legacy = await new SignJWT({
    role: "authenticated",
    app_metadata: { console_role: "viewer" },
  })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("legacy-user")
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(stack.jwtSecret));
  assert.equal((await (await get("/me", legacy)).json()).role, "viewer");
  assert.deepEqual(await (await get("/me", stack.serviceRoleKey)).json(), {
    role: "service",
    actor: "service",
    may_act: true,
  });
});

Deno.test("console-api: the overview counts real jobs and reads the queues and health", () =>
  withCustomer(stack.dbUrl, "console-overview", async (customer) => {
    await seedJobs(stack.dbUrl, customer, 3, 1);
    const body = await (await get("/overview", viewer)).json();
    assert.equal(body.jobs.pending.exact, true);
    assert.ok(body.jobs.pending.count >= 3);
    assert.ok(body.jobs.failed.count >= 1);
    assert.ok(body.oldest_pending_at, "the oldest pending job's age");
    assert.deepEqual(Object.keys(body.series).sort(), ["1h", "24h", "7d"]);
    assert.equal(body.series["1h"].points.length, 60);
    assert.equal(typeof body.queues.lanes.default, "number");
    assert.equal(typeof body.queues.dlq, "number");
    assert.ok(["pass", "warn", "fail"].includes(body.health.status), body.health.status);
    assert.ok(body.health.checks["database:responseTime"], "health's checks, with their reasons");
  }));

Deno.test("console-api: jobs by filter, newest first, in keyset pages; an id goes straight to its job", () =>
  withCustomer(stack.dbUrl, "console-jobs", async (customer) => {
    const ids = await seedJobs(stack.dbUrl, customer, 5, 0);
    const seen: string[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const res = await get(
        `/jobs?customer_id=${customer}&limit=2${cursor ? `&cursor=${cursor}` : ""}`,
        viewer,
      );
      const page = await res.json();
      seen.push(...page.items.map((j: { id: string }) => j.id));
      cursor = page.next_cursor;
    }
    assert.deepEqual(seen.sort(), [...ids].sort(), "every job once across the pages");
    const byId = await (await get(`/jobs?id=${ids[2]}`, viewer)).json();
    assert.deepEqual(byId.items.map((j: { id: string }) => j.id), [ids[2]]);
    const detail = await (await get(`/jobs/${ids[2]}`, viewer)).json();
    assert.equal(detail.job.id, ids[2]);
    assert.equal(detail.job.lease_token, undefined, "the lease token is not shown");
    assert.deepEqual(detail.history.map((h: { event: string }) => h.event), ["enqueued"]);
    assert.equal((await get(`/jobs/00000000-0000-4000-8000-00000000beef`, viewer)).status, 404);
  }));

Deno.test("console-api: an operator retries a failed job and cancels a pending one; a viewer cannot; all audited", () =>
  withCustomer(stack.dbUrl, "console-act", async (customer) => {
    const [failed, pending] = await seedJobs(stack.dbUrl, customer, 1, 1);
    const refused = await post(`/jobs/${failed}/retry`, viewer);
    assert.equal(refused.status, 403);
    await refused.body?.cancel();

    const retried = await post(`/jobs/${failed}/retry`, operator);
    assert.equal(retried.status, 200);
    assert.equal((await retried.json()).outcome, "retried");
    const cancelled = await post(`/jobs/${pending}/cancel`, operator);
    assert.equal((await cancelled.json()).outcome, "cancelled");

    const sql = connect(stack.dbUrl);
    try {
      const rows = await sql<{ id: string; status: string; error_message: string | null }[]>`
      select id::text, status, error_message from public.jobs where customer_id = ${customer}`;
      const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
      assert.equal(byId[failed!]!.status, "pending");
      assert.equal(byId[pending!]!.status, "failed");
      assert.equal(
        byId[pending!]!.error_message,
        "Cancelled by ops@example.com (local-ops@example.com)",
      );
      const claim = first(
        await sql`select outcome from public.claim_jobs(${[pending!]}::uuid[], 'w-console')`,
      );
      assert.equal(claim.outcome, "finished", "a worker's claim refuses the cancelled job");
      const audit = await sql<{ action: string; role: string; result: string; affected: number }[]>`
      select action, role, result, affected from private.console_audit
       where target->'job_ids' ?| array[${failed!}, ${pending!}] order by id`;
      assert.deepEqual(audit.map((a) => [a.action, a.role, a.result, a.affected]), [
        ["retry", "viewer", "refused", 0],
        ["retry", "operator", "ok", 1],
        ["cancel", "operator", "ok", 1],
      ]);
    } finally {
      await sql.end();
    }
    const again = await post(`/jobs/${pending}/cancel`, operator);
    assert.equal(again.status, 409);
    await again.body?.cancel();
  }));

Deno.test("console-api: a bulk cancel on a filter shows its dry-run count, then runs to its result", () =>
  withCustomer(stack.dbUrl, "console-bulk", async (customer) => {
    await seedJobs(stack.dbUrl, customer, 25, 2);
    const filter = { customer_id: customer, status: "pending" };
    const dry =
      await (await post("/operations", operator, { action: "cancel", filter, dry_run: true }))
        .json();
    assert.equal(dry.matching, 25);
    const started = await post("/operations", operator, { action: "cancel", filter });
    assert.equal(started.status, 202);
    const { operation } = await started.json();
    assert.equal(operation.estimated, 25);
    const done = await eventually("the operation to finish", async () => {
      const op = await (await get(`/operations/${operation.id}`, viewer)).json();
      return op.status === "done" ? op : undefined;
    });
    assert.equal(done.changed, 25);
    const left =
      await (await post("/operations", operator, { action: "cancel", filter, dry_run: true }))
        .json();
    assert.equal(left.matching, 0, "nothing pending is left");
    const failedJobs =
      await (await get(`/jobs?customer_id=${customer}&status=failed&limit=200`, viewer)).json();
    assert.equal(failedJobs.items.length, 27, "the two failed before are untouched, still failed");
  }));

Deno.test("console-api: an operation whose runner stopped is finished by pg_cron's step, in batches", () =>
  withCustomer(stack.dbUrl, "console-resume", async (customer) => {
    await seedJobs(stack.dbUrl, customer, 0, 12);
    const sql = connect(stack.dbUrl);
    try {
      // As if the instance that started it died before its first batch. The step leaves a live
      // runner 30 s; this fault test ages the operation instead of waiting.
      const op = first(
        await sql`
        select id from private.console_start_operation(
          'retry', ${sql.json({ customer_id: customer })}, null, 'ops@example.com', 'operator')`,
      );
      await sql`update private.console_operations set updated_at = now() - interval '1 minute'
                 where id = ${op.id}`;
      await sql`call private.resume_console_operations(5)`;
      // pg_cron's own run of the step may have taken it first: either way it finishes.
      const after = await eventually("the operation to finish", async () => {
        const row = first(
          await sql`
          select status, processed, changed from private.console_operations where id = ${op.id}`,
        );
        return row.status === "running" ? undefined : row;
      });
      assert.deepEqual({ ...after }, { status: "done", processed: 12, changed: 12 });
      const pending = first(
        await sql`
        select count(*)::int as n from public.jobs
         where customer_id = ${customer} and status = 'pending'`,
      );
      assert.equal(pending.n, 12, "every job retried, none lost");
    } finally {
      await sql.end();
    }
  }));

Deno.test("console-api: GET /metrics takes its own token and answers Prometheus text", async () => {
  assert.equal((await get("/metrics", operator)).status, 401);
  const res = await get("/metrics", metricsToken);
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.match(text, /^job_queue_jobs\{status="pending"\} \d+$/m);
  assert.match(text, /^job_queue_sqs_up 1$/m);
  assert.match(text, /^job_queue_sqs_messages\{lane="high"\} \d+$/m);
  for (const secret of SECRETS) assert.ok(!text.includes(secret));
});

Deno.test("console-api: refusals are counted in the function, flushed, and shown per policy and client", () =>
  withCustomer(stack.dbUrl, "console-refused", async (customer) => {
    const token = await userJwt(stack, customer);
    // The queue's shipped policy: 100 requests a minute per user.
    let refused = 0;
    for (let i = 0; i < 150; i++) {
      const res = await fetch(`${stack.apiUrl}/functions/v1/queue/${customer}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      if (res.status === 429) refused++;
      await res.body?.cancel();
    }
    assert.ok(refused >= 20, `${refused} refused`);
    type Client = {
      customer_id: string;
      kind: string;
      refused: number;
      functions: string[];
      points: { refused: number }[];
    };
    const client = await eventually("the refusals to be flushed", async () => {
      const body = await (await get("/rate-limits", viewer)).json();
      const found = body.top_clients.find((c: Client) => c.customer_id === customer);
      return found?.refused === refused ? found as Client : undefined;
    }, 20_000);
    assert.equal(client.kind, "user");
    assert.deepEqual(client.functions, ["queue"]);
    assert.equal(
      client.points.reduce((sum, p) => sum + p.refused, 0),
      refused,
      "its series adds up to the refusals",
    );
    const metrics = await (await get("/metrics", metricsToken)).text();
    const total =
      /^job_queue_rate_limit_refusals_total\{function="queue",policy="standard"\} (\d+)$/m
        .exec(metrics);
    assert.ok(total && Number(total[1]) >= refused, "the metrics count them too");
  }));
