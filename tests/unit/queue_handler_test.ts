import assert from "node:assert/strict";
import type { Caller } from "../../supabase/functions/_shared/auth.ts";
import type { OutboxRow } from "../../supabase/functions/_shared/outbox.ts";
import { JOBS_POLICY } from "../../supabase/functions/_shared/ratelimit/policy.ts";
import { handle, type QueueDeps } from "../../supabase/functions/queue/handler.ts";
import type {
  EnqueueOptions,
  EnqueueResult,
  JobView,
} from "../../supabase/functions/queue/store.ts";
import type { BulkItem } from "../../supabase/functions/queue/validate.ts";

interface Fake {
  deps: QueueDeps;
  enqueued: { customerId: string; items: BulkItem[]; options: EnqueueOptions }[];
  sent: OutboxRow[][];
}

type Outcome = "created" | "existing" | "conflict" | "rate_limited" | "unknown_tier";

const charge = { remaining: 9_990, resetMs: 3_600, retryAfterMs: 0 };

/**
 * A store that answers every item with `outcome` (a conflict or an unknown tier names item
 * `itemAtFault`). Jobs are stored as the starter tier.
 */
function fake(caller: Caller, outcome: Outcome = "created", itemAtFault?: number): Fake {
  const enqueued: Fake["enqueued"] = [];
  const sent: OutboxRow[][] = [];
  const deps: QueueDeps = {
    identify: () => Promise.resolve(caller),
    store: {
      enqueue(customerId, items, options): Promise<EnqueueResult> {
        enqueued.push({ customerId, items, options });
        if (outcome === "conflict") {
          return Promise.resolve({ kind: "conflict", item: itemAtFault });
        }
        if (outcome === "unknown_tier") {
          return Promise.resolve({
            kind: "unknown_tier",
            item: itemAtFault ?? 0,
            knownTiers: ["starter", "pro"],
          });
        }
        if (outcome === "rate_limited") {
          return Promise.resolve({
            kind: "rate_limited",
            charge: { remaining: 0, resetMs: 3_600_000, retryAfterMs: 61_500 },
          });
        }
        return Promise.resolve({
          kind: "enqueued",
          charge: outcome === "created" ? charge : undefined,
          jobs: items.map((_, i) => ({
            job_id: `11111111-1111-4111-8111-${String(i).padStart(12, "0")}`,
            status: "pending",
            attempts: 0,
            created_at: "2026-11-22T10:00:00.000Z",
            priority_level: 3,
            priority_tier: "starter",
            lane: "default",
            outcome,
            outbox_id: outcome === "created" ? 7 + i : null,
          })),
        });
      },
      listJobs: (customerId) =>
        Promise.resolve([{ id: "j1", customer_id: customerId, queue_position: 3 } as JobView]),
    },
    sendAfterAnswer: (rows) => sent.push(rows),
    limits: { maxBodyBytes: 1024, maxBulkBodyBytes: 8192, maxBulkJobs: 5 },
    jobsPolicy: JOBS_POLICY,
  };
  return { deps, enqueued, sent };
}

const service: Caller = { kind: "service" };
const acme: Caller = {
  kind: "customer",
  customerId: "acme",
  via: "api_key",
  subject: "key:ab",
  apiKeyHash: "ab",
};

function post(path: string, body: string, headers: Record<string, string> = {}) {
  return new Request(`http://x${path}`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...headers },
  });
}

const job = (size = 5) => ({ package_size: size, priority_level: 1 });

Deno.test("POST enqueues, answers 202 with the job and sends its row after the answer", async () => {
  const f = fake(acme);
  const res = await handle(post("/queue/acme", JSON.stringify(job())), f.deps);
  assert.equal(res.status, 202);
  assert.equal(res.headers.get("location"), "/functions/v1/queue/acme");
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.equal(res.headers.get("ratelimit-policy"), '"jobs";q=10000;w=3600');
  assert.equal(res.headers.get("ratelimit"), '"jobs";r=9990;t=4');
  const body = await res.json();
  assert.equal(body.job.id, "11111111-1111-4111-8111-000000000000");
  assert.equal(body.job.package_size, 5);
  assert.equal(body.job.priority_level, 3, "the priority as stored, not as asked");
  assert.equal(body.job.priority_tier, "starter");
  assert.equal(f.enqueued.length, 1);
  const { customerId, items, options } = f.enqueued[0]!;
  assert.equal(customerId, "acme");
  assert.deepEqual(items, [{ ...job(), payload: {} }]);
  assert.equal(options.batchKey, null);
  assert.equal(options.limit?.limit, 10_000);
  assert.equal(options.limit?.periodMs, 3_600_000);
  assert.match(options.limit!.key, /^[0-9a-f]{64}$/);
  assert.deepEqual(f.sent, [[{
    outbox_id: 7,
    job_id: "11111111-1111-4111-8111-000000000000",
    customer_id: "acme",
    tries: 0,
    lane: "default",
  }]]);
});

Deno.test("a single POST's Idempotency-Key is its job's key; a replay says so and sends nothing", async () => {
  const f = fake(service, "existing");
  const res = await handle(
    post("/queue/acme", JSON.stringify(job()), { "idempotency-key": "k1" }),
    f.deps,
  );
  assert.equal(res.status, 202);
  assert.equal(res.headers.get("idempotent-replayed"), "true");
  assert.equal(res.headers.get("ratelimit"), null, "a replay is not charged");
  assert.equal(f.enqueued[0]!.items[0]!.idempotency_key, "k1");
  assert.equal(f.enqueued[0]!.options.batchKey, null);
  assert.deepEqual(f.sent, [], "nothing new to send");
  await res.body?.cancel();
});

Deno.test("POST reusing a key for another job is a 409", async () => {
  const f = fake(service, "conflict");
  const res = await handle(
    post("/queue/acme", JSON.stringify(job(6)), { "idempotency-key": "k1" }),
    f.deps,
  );
  assert.equal(res.status, 409);
  const body = await res.json();
  assert.equal(body.code, "idempotency_key_reused");
  assert.equal(body.message, "This Idempotency-Key was already used for a different job.");
});

Deno.test("bulk: the jobs in order, the batch key covers the batch, item keys travel", async () => {
  const f = fake(acme);
  const jobs = [job(1), { ...job(2), idempotency_key: "order-2" }, job(3)];
  const res = await handle(
    post("/queue/acme", JSON.stringify({ jobs }), { "idempotency-key": "batch-1" }),
    f.deps,
  );
  assert.equal(res.status, 202);
  const body = await res.json();
  assert.deepEqual(body.jobs.map((j: { package_size: number }) => j.package_size), [1, 2, 3]);
  assert.equal(body.jobs[1].idempotency_key, "order-2");
  assert.equal(body.jobs[0].replayed, false);
  const { items, options } = f.enqueued[0]!;
  assert.equal(options.batchKey, "batch-1");
  assert.deepEqual(items.map((i) => i.idempotency_key), [undefined, "order-2", undefined]);
  assert.deepEqual(f.sent[0]!.map((r) => r.outbox_id), [7, 8, 9]);
});

Deno.test("bulk: a bad item is a 400 or 413 naming its index, and nothing is enqueued", async () => {
  const big = { ...job(), payload: { text: "x".repeat(1100) } };
  const cases: [unknown, number, number | undefined, string][] = [
    [{ jobs: [job(), { package_size: 0, priority_level: 1 }] }, 400, 1, "jobs[1].package_size"],
    [{ jobs: [job(), job(), { ...job(), color: "red" }] }, 400, 2, "jobs[2].color"],
    [{ jobs: [job(), "job"] }, 400, 1, "jobs[1]"],
    [{ jobs: [job(), big] }, 413, 1, "jobs[1]"],
    [
      { jobs: [{ ...job(), idempotency_key: "a" }, { ...job(), idempotency_key: "a" }] },
      400,
      1,
      "jobs[1].idempotency_key",
    ],
    [{ jobs: [{ ...job(), idempotency_key: "a b" }] }, 400, 0, "jobs[0].idempotency_key"],
    [{ jobs: [] }, 400, undefined, "jobs"],
    [{ jobs: Array(6).fill(job()) }, 400, undefined, "jobs"],
    [{ jobs: [job()], more: 1 }, 400, undefined, "more"],
  ];
  for (const [body, status, index, field] of cases) {
    const f = fake(service);
    const res = await handle(post("/queue/acme", JSON.stringify(body)), f.deps);
    assert.equal(res.status, status, JSON.stringify(body).slice(0, 80));
    const answer = await res.json();
    assert.equal(answer.index, index);
    assert.equal(answer.field, field);
    assert.deepEqual(f.enqueued, [], "nothing was enqueued");
  }
});

Deno.test("bulk: a body over the bulk limit is a 413; a single job keeps its own limit", async () => {
  const f = fake(service);
  const jobs = Array(5).fill({ ...job(), payload: { text: "y".repeat(900) } });
  const fits = await handle(post("/queue/acme", JSON.stringify({ jobs })), f.deps);
  assert.equal(fits.status, 202, "five jobs of ~950 bytes fit in 8192");
  await fits.body?.cancel();
  const tooBig = await handle(
    post("/queue/acme", JSON.stringify({ jobs: [{ ...job(), payload: { t: "z".repeat(9000) } }] })),
    f.deps,
  );
  assert.equal(tooBig.status, 413);
  assert.match((await tooBig.json()).message, /8192 bytes/);
  const single = await handle(
    post("/queue/acme", JSON.stringify({ ...job(), payload: { t: "z".repeat(2000) } })),
    f.deps,
  );
  assert.equal(single.status, 413);
  assert.match((await single.json()).message, /1024 bytes/);
  assert.equal(f.enqueued.length, 1);
});

Deno.test("bulk: a reused key is a 409 that names the batch or the item", async () => {
  const batch = await handle(
    post("/queue/acme", JSON.stringify({ jobs: [job()] }), { "idempotency-key": "b" }),
    fake(service, "conflict").deps,
  );
  assert.equal(batch.status, 409);
  assert.match((await batch.json()).message, /different batch/);
  const item = await handle(
    post("/queue/acme", JSON.stringify({ jobs: [job(), { ...job(), idempotency_key: "k" }] })),
    fake(service, "conflict", 1).deps,
  );
  assert.equal(item.status, 409);
  const body = await item.json();
  assert.equal(body.index, 1);
  assert.match(body.message, /^jobs\[1\]'s idempotency_key/);
});

Deno.test("the jobs policy refuses with the 429 clients parse, and nothing is sent", async () => {
  const f = fake(acme, "rate_limited");
  const res = await handle(post("/queue/acme", JSON.stringify({ jobs: [job(), job()] })), f.deps);
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("retry-after"), "62");
  assert.equal(res.headers.get("ratelimit-policy"), '"jobs";q=10000;w=3600');
  assert.equal(res.headers.get("ratelimit"), '"jobs";r=0;t=3600');
  const body = await res.json();
  assert.deepEqual(body, {
    error: "Too many requests",
    code: "rate_limited",
    message: "Rate limit exceeded. Max 10000 jobs per 3600s",
    retryAfter: 62,
  });
  assert.deepEqual(f.sent, []);
});

Deno.test("GET lists the customer's jobs", async () => {
  const res = await handle(new Request("http://x/queue/acme?limit=10"), fake(acme).deps);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.customer_id, "acme");
  assert.equal(body.jobs[0].queue_position, 3);
  assert.match(
    body.queue_position_basis,
    /^estimate: .* lane/,
    "the position says it is an estimate",
  );
});

Deno.test("who may call: the auth matrix", async () => {
  const cases: [Caller, string, number, string | undefined][] = [
    [service, "acme", 200, undefined],
    [acme, "acme", 200, undefined],
    [
      { kind: "customer", customerId: "acme", via: "jwt", subject: "user:u1" },
      "acme",
      200,
      undefined,
    ],
    [acme, "globex", 403, "forbidden"],
    [
      { kind: "customer", customerId: "acme", via: "jwt", subject: "user:u1" },
      "globex",
      403,
      "forbidden",
    ],
    [{ kind: "user", subject: "user:u2" }, "acme", 403, "forbidden"],
    [{ kind: "none" }, "acme", 401, "unauthorized"],
    [{ kind: "invalid", reason: "bad" }, "acme", 401, "invalid_credentials"],
    [{ kind: "none" }, "bad id", 401, "unauthorized"],
    [acme, "bad%20id", 400, "invalid_customer_id"],
  ];
  for (const [caller, customer, status, code] of cases) {
    const res = await handle(new Request(`http://x/queue/${customer}`), fake(caller).deps);
    assert.equal(res.status, status, `${JSON.stringify(caller)} -> ${customer}`);
    const body = await res.json();
    if (code) assert.equal(body.code, code);
  }
});

Deno.test("bad input gets a clear error and reaches no store", async () => {
  const cases: [Request, number, string][] = [
    [post("/queue/acme", "{not json"), 400, "invalid_json"],
    [post("/queue/acme", '{"priority_level":1}'), 400, "invalid_body"],
    [post("/queue/acme", '{"package_size":5,"priority_level":true}'), 400, "invalid_body"],
    [post("/queue/acme", '{"package_size":5,"priority_level":1,"extra":1}'), 400, "invalid_body"],
    [post("/queue/acme", "x".repeat(2000)), 413, "payload_too_large"],
    [post("/queue/acme", "x".repeat(9000)), 413, "payload_too_large"],
    [
      post("/queue/acme", '{"package_size":5,"priority_level":1}', {
        "content-type": "text/plain",
      }),
      415,
      "unsupported_media_type",
    ],
    [
      post("/queue/acme", '{"package_size":5,"priority_level":1}', { "idempotency-key": "a b" }),
      400,
      "invalid_header",
    ],
    [new Request("http://x/queue/acme", { method: "DELETE" }), 405, "method_not_allowed"],
    [new Request("http://x/queue"), 404, "not_found"],
    [new Request("http://x/queue/acme/jobs"), 404, "not_found"],
    [new Request("http://x/queue/acme?limit=0"), 400, "invalid_query"],
    [new Request("http://x/queue/acme?limit=abc"), 400, "invalid_query"],
  ];
  for (const [req, status, code] of cases) {
    const f = fake(service);
    const res = await handle(req, f.deps);
    assert.equal(res.status, status, `${req.method} ${req.url} ${code}`);
    const body = await res.json();
    assert.equal(body.code, code);
    assert.deepEqual(Object.keys(body).slice(0, 3), ["error", "code", "message"]);
    assert.deepEqual(f.enqueued, [], "nothing was enqueued");
  }
});

Deno.test("405 names the allowed methods", async () => {
  const res = await handle(
    new Request("http://x/queue/acme", { method: "PUT" }),
    fake(service).deps,
  );
  assert.equal(res.headers.get("allow"), "GET, POST, OPTIONS");
  await res.body?.cancel();
});

Deno.test("an internal failure answers 500 without its detail", async () => {
  const f = fake(service);
  f.deps.store.listJobs = () => Promise.reject(new Error('relation "jobs" does not exist'));
  const original = console.error;
  console.error = () => {};
  try {
    const res = await handle(new Request("http://x/queue/acme"), f.deps);
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.ok(!text.includes("relation"));
    assert.equal(JSON.parse(text).code, "internal_error");
  } finally {
    console.error = original;
  }
});

Deno.test("handle() lets go of every body it refuses before reading", async () => {
  const body = '{"package_size":5,"priority_level":1}';
  const cases: [Caller, Request][] = [
    [service, post("/nope", body)],
    [service, new Request("http://x/queue/acme", { method: "PUT", body })],
    [{ kind: "none" }, post("/queue/acme", body)],
    [acme, post("/queue/bad%20id", body)],
    [acme, post("/queue/globex", body)],
    [service, post("/queue/acme", body, { "content-type": "text/plain" })],
    [service, post("/queue/acme", body, { "idempotency-key": "a b" })],
  ];
  for (const [caller, req] of cases) {
    const res = await handle(req, fake(caller).deps);
    await res.body?.cancel();
    assert.ok(req.bodyUsed, `${req.method} ${req.url} -> ${res.status}: body let go`);
  }
});

Deno.test("an unknown tier is a 400 naming the tiers there are, and the item of a bulk request", async () => {
  const single = fake(service, "unknown_tier");
  const res = await handle(
    post("/queue/acme", JSON.stringify({ package_size: 1, priority_level: "gold" })),
    single.deps,
  );
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), {
    error: "Bad request",
    code: "unknown_priority_tier",
    message:
      "priority_level 'gold' is not a known tier. Known tiers: starter, pro; or give a number from 0 to 10.",
    field: "priority_level",
    known_tiers: ["starter", "pro"],
  });
  assert.deepEqual(single.sent, [], "nothing to send");

  const bulk = fake(service, "unknown_tier", 1);
  const bulkRes = await handle(
    post(
      "/queue/acme",
      JSON.stringify({ jobs: [job(), { package_size: 1, priority_level: "x" }] }),
    ),
    bulk.deps,
  );
  assert.equal(bulkRes.status, 400);
  const body = await bulkRes.json();
  assert.equal(body.code, "unknown_priority_tier");
  assert.equal(body.field, "jobs[1].priority_level");
  assert.equal(body.index, 1);
  assert.match(body.message, /^jobs\[1\]\.priority_level 'x' is not a known tier/);
});
