/**
 * The queue API over real HTTP, through the local gateway, against the real database: what a
 * client, a Supabase front end (supabase-js) and an API-key holder see.
 */
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { connect, first, testStack } from "../_support/stack.ts";
import { serviceHeaders, uniqueCustomer, userJwt } from "../_support/pipeline.ts";

const stack = testStack();
const queueUrl = (customer: string) => `${stack.apiUrl}/functions/v1/queue/${customer}`;
const body = JSON.stringify({ package_size: 10, priority_level: 2, payload: { site: "x" } });

async function issueKey(customer: string): Promise<{ id: string; key: string }> {
  const sql = connect(stack.dbUrl);
  try {
    const row = first(
      await sql`select id::text, api_key from private.issue_api_key(${customer}, 'test')`,
    );
    return { id: row.id, key: row.api_key };
  } finally {
    await sql.end();
  }
}

async function jobCount(customer: string): Promise<number> {
  const sql = connect(stack.dbUrl);
  try {
    return first(
      await sql`select count(*)::int as n from public.jobs where customer_id = ${customer}`,
    ).n;
  } finally {
    await sql.end();
  }
}

Deno.test("POST /queue/<customer> with the service key answers 202 with a pending job", async () => {
  const customer = uniqueCustomer("api");
  const res = await fetch(queueUrl(customer), {
    method: "POST",
    headers: { ...serviceHeaders(stack), "content-type": "application/json" },
    body,
  });
  assert.equal(res.status, 202);
  const { job } = await res.json();
  assert.equal(job.customer_id, customer);
  assert.equal(job.status, "pending");
  assert.match(job.id, /^[0-9a-f-]{36}$/);

  const list = await fetch(queueUrl(customer), { headers: serviceHeaders(stack) });
  assert.equal(list.status, 200);
  const listed = await list.json();
  assert.deepEqual(listed.jobs.map((j: { id: string }) => j.id), [job.id]);
  assert.equal(listed.jobs[0].attempts, 0);
});

Deno.test("the same Idempotency-Key gives back the same job, never a second", async () => {
  const customer = uniqueCustomer("idem");
  const headers = {
    ...serviceHeaders(stack),
    "content-type": "application/json",
    "idempotency-key": `order-${crypto.randomUUID()}`,
  };
  const answers = await Promise.all(
    Array.from({ length: 5 }, () => fetch(queueUrl(customer), { method: "POST", headers, body })),
  );
  const ids = new Set<string>();
  for (const res of answers) {
    assert.equal(res.status, 202);
    ids.add((await res.json()).job.id);
  }
  assert.equal(ids.size, 1, "five concurrent calls, one job");
  assert.equal(await jobCount(customer), 1);

  const conflict = await fetch(queueUrl(customer), {
    method: "POST",
    headers,
    body: JSON.stringify({ package_size: 11, priority_level: 2 }),
  });
  assert.equal(conflict.status, 409);
  assert.equal((await conflict.json()).code, "idempotency_key_reused");
});

Deno.test("a Supabase front end calls it with supabase-js functions.invoke", async () => {
  const customer = uniqueCustomer("sbjs");
  const token = await userJwt(stack, customer);
  const supabase = createClient(stack.apiUrl, stack.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    global: { headers: { Authorization: `Bearer ${token}` } },
  });
  const created = await supabase.functions.invoke(`queue/${customer}`, {
    method: "POST",
    body: { package_size: 3, priority_level: 0 },
  });
  assert.equal(created.error, null);
  assert.equal(created.data.job.customer_id, customer);
  const listed = await supabase.functions.invoke(`queue/${customer}`, { method: "GET" });
  assert.equal(listed.error, null);
  assert.equal(listed.data.jobs.length, 1);

  const other = await supabase.functions.invoke(`queue/${uniqueCustomer("other")}`, {
    method: "GET",
  });
  assert.ok(other.error, "another customer's queue is refused");
  assert.equal(other.response?.status, 403);
  await other.response?.body?.cancel();
});

Deno.test("who may call: service key, own user JWT, own API key; nobody else", async () => {
  const acme = uniqueCustomer("acme");
  const globex = uniqueCustomer("globex");
  const acmeKey = await issueKey(acme);
  const revoked = await issueKey(acme);
  const sql = connect(stack.dbUrl);
  await sql`select private.revoke_api_key(${revoked.id})`;
  await sql.end();

  const cases: [string, Record<string, string>, string, number][] = [
    ["service key", serviceHeaders(stack), acme, 200],
    ["acme's user JWT", { authorization: `Bearer ${await userJwt(stack, acme)}` }, acme, 200],
    ["acme's API key", { "x-api-key": acmeKey.key }, acme, 200],
    [
      "acme's user JWT on globex",
      { authorization: `Bearer ${await userJwt(stack, acme)}` },
      globex,
      403,
    ],
    ["acme's API key on globex", { "x-api-key": acmeKey.key }, globex, 403],
    ["a user JWT without customer", { authorization: `Bearer ${await userJwt(stack)}` }, acme, 403],
    ["the anon key", { authorization: `Bearer ${stack.anonKey}` }, acme, 403],
    ["a revoked API key", { "x-api-key": revoked.key }, acme, 401],
    ["an unknown API key", { "x-api-key": "jq_unknown" }, acme, 401],
    ["a garbage bearer", { authorization: "Bearer nonsense" }, acme, 401],
    ["no credentials", {}, acme, 401],
  ];
  for (const [who, headers, customer, status] of cases) {
    for (const method of ["GET", "POST"]) {
      const res = await fetch(queueUrl(customer), {
        method,
        headers: { ...headers, "content-type": "application/json" },
        body: method === "POST" ? body : undefined,
      });
      const expected = method === "POST" && status === 200 ? 202 : status;
      assert.equal(res.status, expected, `${who} ${method} ${customer}`);
      await res.body?.cancel();
    }
  }
  assert.equal(await jobCount(globex), 0, "nothing was written for globex");
});

Deno.test("bad input gets the right 4xx, writes nothing and leaks nothing", async () => {
  const customer = uniqueCustomer("bad");
  const json = { ...serviceHeaders(stack), "content-type": "application/json" };
  const cases: [string, RequestInit, number, string][] = [
    ["not JSON", { method: "POST", headers: json, body: "{oops" }, 400, "invalid_json"],
    ["array body", { method: "POST", headers: json, body: "[]" }, 400, "invalid_body"],
    [
      "missing field",
      { method: "POST", headers: json, body: '{"priority_level":"pro"}' },
      400,
      "invalid_body",
    ],
    [
      "wrong type",
      { method: "POST", headers: json, body: '{"package_size":"1","priority_level":0}' },
      400,
      "invalid_body",
    ],
    [
      "unknown field",
      {
        method: "POST",
        headers: json,
        body: '{"package_size":1,"priority_level":0,"status":"completed"}',
      },
      400,
      "invalid_body",
    ],
    [
      "SQL in a field",
      {
        method: "POST",
        headers: json,
        body: `{"package_size":"1; drop table jobs","priority_level":0}`,
      },
      400,
      "invalid_body",
    ],
    [
      "huge payload",
      {
        method: "POST",
        headers: json,
        body: JSON.stringify({
          package_size: 1,
          priority_level: 0,
          payload: { x: "y".repeat(100_000) },
        }),
      },
      413,
      "payload_too_large",
    ],
    [
      "form body",
      {
        method: "POST",
        headers: { ...serviceHeaders(stack), "content-type": "application/x-www-form-urlencoded" },
        body: "a=1",
      },
      415,
      "unsupported_media_type",
    ],
    [
      "bad idempotency key",
      { method: "POST", headers: { ...json, "idempotency-key": "a\tb" }, body },
      400,
      "invalid_header",
    ],
    ["DELETE", { method: "DELETE", headers: json }, 405, "method_not_allowed"],
  ];
  for (const [what, init, status, code] of cases) {
    const res = await fetch(queueUrl(customer), init);
    assert.equal(res.status, status, what);
    const text = await res.text();
    const parsed = JSON.parse(text);
    assert.equal(parsed.code, code, what);
    assert.ok(!/select|relation|postgres|stack|\.ts:/i.test(parsed.message), `${what}: ${text}`);
  }
  for (const path of ["bad%20id", "x".repeat(200), "%27%20or%201%3D1--"]) {
    const res = await fetch(queueUrl(path), { headers: serviceHeaders(stack) });
    assert.equal(res.status, 400, path);
    assert.equal((await res.json()).code, "invalid_customer_id");
  }
  assert.equal(await jobCount(customer), 0);
});

Deno.test("priority tiers: names in any case, starter by default, an unknown one refused with the list", async () => {
  const customer = uniqueCustomer("tier");
  const post = (payload: unknown) =>
    fetch(queueUrl(customer), {
      method: "POST",
      headers: { ...serviceHeaders(stack), "content-type": "application/json" },
      body: JSON.stringify(payload),
    });
  const plain = await (await post({ package_size: 1 })).json();
  assert.equal(plain.job.priority_tier, "starter", "the old requeue code's default");
  assert.equal(plain.job.priority_level, 3);
  const bulk = await post({
    jobs: [{ package_size: 1, priority_level: "Enterprise" }, {
      package_size: 1,
      priority_level: 6,
    }],
  });
  assert.equal(bulk.status, 202);
  const { jobs } = await bulk.json();
  assert.deepEqual(
    jobs.map((j: { priority_level: number; priority_tier: string | null }) => [
      j.priority_level,
      j.priority_tier,
    ]),
    [[9, "enterprise"], [6, null]],
  );

  const refused = await post({
    jobs: [{ package_size: 1 }, { package_size: 1, priority_level: "gold" }],
  });
  assert.equal(refused.status, 400);
  const error = await refused.json();
  assert.equal(error.code, "unknown_priority_tier");
  assert.equal(error.index, 1);
  assert.equal(error.field, "jobs[1].priority_level");
  assert.deepEqual(error.known_tiers, ["starter", "pro", "business", "enterprise"]);
  assert.equal(await jobCount(customer), 3, "the refused request wrote nothing");

  // The mapping is plain SQL; GET shows the number and the tier as stored.
  const sql = connect(stack.dbUrl);
  try {
    await sql`insert into private.priority_tiers (name, priority_level) values ('gold', 8)`;
    const gold = await (await post({ package_size: 1, priority_level: "gold" })).json();
    assert.equal(gold.job.priority_level, 8);
  } finally {
    await sql`delete from private.priority_tiers where name = 'gold'`;
    await sql.end();
  }
  const listed = await (await fetch(queueUrl(customer), { headers: serviceHeaders(stack) })).json();
  assert.deepEqual(
    listed.jobs.map((j: { priority_level: number; priority_tier: string | null }) =>
      `${j.priority_level}:${j.priority_tier}`
    ).sort(),
    ["3:starter", "6:null", "8:gold", "9:enterprise"],
  );
});
