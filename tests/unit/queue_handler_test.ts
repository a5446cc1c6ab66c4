import assert from "node:assert/strict";
import type { Caller } from "../../supabase/functions/_shared/auth.ts";
import { handle, type QueueDeps } from "../../supabase/functions/queue/handler.ts";
import type { Enqueued, JobView } from "../../supabase/functions/queue/store.ts";

interface Fake {
  deps: QueueDeps;
  enqueued: unknown[];
  dispatched: number[];
}

function fake(caller: Caller, outcome: Enqueued["outcome"] = "created"): Fake {
  const enqueued: unknown[] = [];
  const dispatched: number[] = [];
  const deps: QueueDeps = {
    identify: () => Promise.resolve(caller),
    store: {
      enqueue(customerId, input, key) {
        enqueued.push({ customerId, input, key });
        return Promise.resolve({
          outcome,
          job_id: "11111111-1111-4111-8111-111111111111",
          status: "pending",
          attempts: 0,
          created_at: "2026-11-22T10:00:00.000Z",
          outbox_id: outcome === "created" ? 7 : null,
        });
      },
      listJobs: (customerId) =>
        Promise.resolve([{ id: "j1", customer_id: customerId, queue_position: 3 } as JobView]),
    },
    dispatchNow: (id) => {
      dispatched.push(id);
      return Promise.resolve();
    },
    maxBodyBytes: 1024,
  };
  return { deps, enqueued, dispatched };
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

Deno.test("POST enqueues, dispatches the new row and answers 202 with the job", async () => {
  const f = fake(acme);
  const res = await handle(post("/queue/acme", '{"package_size":5,"priority_level":1}'), f.deps);
  assert.equal(res.status, 202);
  assert.equal(res.headers.get("location"), "/functions/v1/queue/acme");
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  const body = await res.json();
  assert.equal(body.job.id, "11111111-1111-4111-8111-111111111111");
  assert.equal(body.job.package_size, 5);
  assert.deepEqual(f.enqueued, [{
    customerId: "acme",
    input: { package_size: 5, priority_level: 1, payload: {} },
    key: null,
  }]);
  assert.deepEqual(f.dispatched, [7]);
});

Deno.test("POST with a replayed Idempotency-Key says so and sends nothing", async () => {
  const f = fake(service, "existing");
  const res = await handle(
    post("/queue/acme", '{"package_size":5,"priority_level":1}', { "idempotency-key": "k1" }),
    f.deps,
  );
  assert.equal(res.status, 202);
  assert.equal(res.headers.get("idempotent-replayed"), "true");
  assert.deepEqual(f.dispatched, []);
  await res.body?.cancel();
});

Deno.test("POST reusing a key for another job is a 409", async () => {
  const f = fake(service, "conflict");
  const res = await handle(
    post("/queue/acme", '{"package_size":6,"priority_level":1}', { "idempotency-key": "k1" }),
    f.deps,
  );
  assert.equal(res.status, 409);
  assert.equal((await res.json()).code, "idempotency_key_reused");
});

Deno.test("GET lists the customer's jobs", async () => {
  const res = await handle(new Request("http://x/queue/acme?limit=10"), fake(acme).deps);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.customer_id, "acme");
  assert.equal(body.jobs[0].queue_position, 3);
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
    [post("/queue/acme", '{"package_size":5}'), 400, "invalid_body"],
    [post("/queue/acme", '{"package_size":5,"priority_level":1,"extra":1}'), 400, "invalid_body"],
    [post("/queue/acme", "x".repeat(2000)), 413, "payload_too_large"],
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
