/**
 * Bad input across every function: malformed paths, ids, bodies, headers, huge payloads, wrong
 * content types, SQL metacharacters, forged and expired JWTs, another customer's API key. Each
 * gets the right 4xx in the one error shape, writes nothing anywhere, and leaks nothing.
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { connect, testStack } from "../_support/stack.ts";
import { serviceHeaders, uniqueCustomer, userJwt } from "../_support/pipeline.ts";
import { report } from "../_support/report.ts";
import { mintConsoleToken, stackSigningKey } from "../../scripts/console_token.ts";

const stack = testStack();
const fn = (path: string) => `${stack.apiUrl}/functions/v1/${path}`;
const body = JSON.stringify({ package_size: 1, priority_level: 0 });
const b64url = (s: string) => btoa(s).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");

/** Row counts of every table a request could write. */
async function counts(): Promise<Record<string, number>> {
  const sql = connect(stack.dbUrl);
  try {
    const [row] = await sql`
      select (select count(*) from public.jobs)::int as jobs,
             (select count(*) from public.queue_history)::int as history,
             (select count(*) from private.outbox)::int as outbox,
             (select count(*) from private.api_keys)::int as api_keys,
             (select count(*) from private.alerts)::int as alerts,
             (select count(*) from private.redrives)::int as redrives,
             (select count(*) from private.console_operations)::int as console_operations,
             (select count(*) from private.console_audit)::int as console_audit`;
    return { ...row };
  } finally {
    await sql.end();
  }
}

Deno.test("a table of malformed and hostile requests: right 4xx, nothing written, nothing leaked", async () => {
  const acme = uniqueCustomer("acme");
  const globex = uniqueCustomer("globex");
  const sql = connect(stack.dbUrl);
  const [{ api_key: globexKey }] = await sql<[{ api_key: string }]>`
    select api_key from private.issue_api_key(${globex}, 'bad-input test')`;
  await sql.end();
  const secret = new TextEncoder().encode(stack.jwtSecret);
  const claims = {
    role: "authenticated",
    sub: crypto.randomUUID(),
    app_metadata: { customer_id: acme },
  };
  const expired = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" })
    .setIssuedAt(Math.floor(Date.now() / 1000) - 7200).setExpirationTime(
      Math.floor(Date.now() / 1000) - 3600,
    )
    .sign(secret);
  const wrongKey = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime(
    "10m",
  )
    .sign(new TextEncoder().encode("not-the-project-secret-but-long-enough-to-sign"));
  const algNone = `${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${
    b64url(JSON.stringify({ ...claims, exp: Math.floor(Date.now() / 1000) + 600 }))
  }.`;
  const acmeJwt = await userJwt(stack, acme);
  const operator = await mintConsoleToken(stackSigningKey(stack.stateDir), { role: "operator" });
  const json = { "content-type": "application/json" };
  const svc = { ...serviceHeaders(stack), ...json };
  const bearer = (t: string) => ({ authorization: `Bearer ${t}`, ...json });

  const cases: [string, string, RequestInit, number][] = [
    // Paths and ids.
    ["unknown function", "nope", { headers: svc }, 404],
    ["queue without a customer", "queue", { headers: svc }, 404],
    ["customer id with SQL", `queue/${encodeURIComponent("x' or '1'='1")}`, { headers: svc }, 400],
    ["customer id too long", `queue/${"c".repeat(300)}`, { headers: svc }, 400],
    ["path traversal", "queue/..%2F..%2Fetc%2Fpasswd", { headers: svc }, 400],
    ["limit not a number", `queue/${acme}?limit=ten`, { headers: svc }, 400],
    ["limit too large", `queue/${acme}?limit=100000`, { headers: svc }, 400],
    // Bodies, headers, content types.
    ["not JSON", `queue/${acme}`, { method: "POST", headers: svc, body: "{" }, 400],
    ["JSON null", `queue/${acme}`, { method: "POST", headers: svc, body: "null" }, 400],
    ["SQL in a field", `queue/${acme}`, {
      method: "POST",
      headers: svc,
      body: JSON.stringify({ package_size: "1); drop table public.jobs; --", priority_level: 0 }),
    }, 400],
    ["priority out of range", `queue/${acme}`, {
      method: "POST",
      headers: svc,
      body: JSON.stringify({ package_size: 1, priority_level: 99 }),
    }, 400],
    ["unknown tier (resolved in the database)", `queue/${acme}`, {
      method: "POST",
      headers: svc,
      body: JSON.stringify({
        jobs: [{ package_size: 1 }, { package_size: 1, priority_level: "gold" }],
      }),
    }, 400],
    ["payload not an object", `queue/${acme}`, {
      method: "POST",
      headers: svc,
      body: JSON.stringify({ package_size: 1, priority_level: 0, payload: [1] }),
    }, 400],
    [
      "1 MB body",
      `queue/${acme}`,
      { method: "POST", headers: svc, body: "x".repeat(1_000_000) },
      413,
    ],
    ["text/plain", `queue/${acme}`, {
      method: "POST",
      headers: { ...serviceHeaders(stack), "content-type": "text/plain" },
      body,
    }, 415],
    ["idempotency key too long", `queue/${acme}`, {
      method: "POST",
      headers: { ...svc, "idempotency-key": "k".repeat(300) },
      body,
    }, 400],
    ["method not allowed", `queue/${acme}`, { method: "PUT", headers: svc, body }, 405],
    // Credentials.
    ["garbage JWT", `queue/${acme}`, { method: "POST", headers: bearer("a.b.c"), body }, 401],
    ["expired JWT", `queue/${acme}`, { method: "POST", headers: bearer(expired), body }, 401],
    ["JWT signed with another key", `queue/${acme}`, {
      method: "POST",
      headers: bearer(wrongKey),
      body,
    }, 401],
    ["alg: none JWT", `queue/${acme}`, { method: "POST", headers: bearer(algNone), body }, 401],
    ["another customer's API key", `queue/${acme}`, {
      method: "POST",
      headers: { "x-api-key": globexKey, ...json },
      body,
    }, 403],
    ["another customer's user JWT", `queue/${globex}`, {
      method: "POST",
      headers: bearer(acmeJwt),
      body,
    }, 403],
    // Service-only functions.
    ["dispatch with a user JWT", "dispatch", { method: "POST", headers: bearer(acmeJwt) }, 403],
    [
      "dispatch with the anon key",
      "dispatch",
      { method: "POST", headers: bearer(stack.anonKey) },
      403,
    ],
    [
      "dlq-monitor with a user JWT",
      "dlq-monitor",
      { method: "POST", headers: bearer(acmeJwt) },
      403,
    ],
    ["redrive with a user JWT", "dlq-monitor/redrive", {
      method: "POST",
      headers: bearer(acmeJwt),
      body: "{}",
    }, 403],
    ["redrive with a bad limit", "dlq-monitor/redrive", {
      method: "POST",
      headers: svc,
      body: '{"limit":"all"}',
    }, 400],
    ["health with POST", "health", { method: "POST" }, 405],
    // The operator data API.
    ["console-api without a token", "console-api/jobs", {}, 401],
    ["console-api with a customer's JWT", "console-api/jobs", { headers: bearer(acmeJwt) }, 403],
    ["console-api with the anon key", "console-api/overview", {
      headers: bearer(stack.anonKey),
    }, 403],
    ["console-api with an alg: none operator token", "console-api/jobs", {
      headers: bearer(algNone),
    }, 401],
    [
      "console-api filter with SQL",
      `console-api/jobs?status=${encodeURIComponent("failed' or '1'='1")}`,
      { headers: bearer(operator) },
      400,
    ],
    ["console-api customer id too long", `console-api/jobs?customer_id=${"c".repeat(300)}`, {
      headers: bearer(operator),
    }, 400],
    ["console-api forged cursor", `console-api/jobs?cursor=${b64url('["x\'", 1]')}`, {
      headers: bearer(operator),
    }, 400],
    ["console-api bulk action on an unknown filter", "console-api/operations", {
      method: "POST",
      headers: bearer(operator),
      body: JSON.stringify({ action: "cancel", filter: { "1=1; --": "x" } }),
    }, 400],
    ["console-api bulk action without ids or filter", "console-api/operations", {
      method: "POST",
      headers: bearer(operator),
      body: JSON.stringify({ action: "cancel" }),
    }, 400],
    ["console-api metrics with a console token", "console-api/metrics", {
      headers: bearer(operator),
    }, 401],
  ];

  const before = await counts();
  const forbidden = [
    stack.serviceRoleKey,
    stack.jwtSecret,
    stack.awsSecretAccessKey,
    stack.slackWebhookUrl,
    stack.metricsToken,
    "postgres",
    "select ",
    "relation",
    "stack",
    ".ts:",
    "/work/",
  ];
  for (const [what, path, init, status] of cases) {
    const res = await fetch(fn(path), init);
    const text = await res.text();
    assert.equal(res.status, status, `${what}: ${text}`);
    const parsed = JSON.parse(text);
    assert.deepEqual(
      // The envelope, plus what a refused bulk item or tier documents: its index, the tiers.
      Object.keys(parsed).filter((k) =>
        !["error", "code", "message", "field", "index", "known_tiers"].includes(k)
      ),
      [],
      `${what}: only the error envelope (${text})`,
    );
    assert.equal(typeof parsed.code, "string", what);
    for (const word of forbidden) {
      assert.ok(
        !text.toLowerCase().includes(word.toLowerCase()),
        `${what} leaks '${word.slice(0, 12)}'`,
      );
    }
  }
  assert.deepEqual(await counts(), before, "nothing was written");

  report({
    scenario: "Bad input",
    claim:
      "Malformed paths, ids, bodies, headers, a 1 MB body, wrong content types, SQL metacharacters, garbage, expired, foreign-key and `alg: none` JWTs, another customer's API key and JWT, user tokens on service-only functions, console-api without a console role, with SQL in its filters, a forged cursor or a bulk action without a target: each gets the expected 4xx in the one error envelope, no table changes (jobs, queue_history, outbox, api_keys, alerts, redrives, console operations and audit), and no answer contains a secret or internal detail.",
    figures: {
      "requests": String(cases.length),
      "answers": [...new Set(cases.map((c) => c[3]))].sort().join(", "),
      "rows written": "0",
    },
  });
});
