/**
 * Property-based bad input against every function, over real HTTP through the local gateway
 * (fast-check): paths, methods, headers, tokens, bodies, bulk arrays, console-api filters and
 * actions. For every request: no 5xx, an error is the one JSON shape, and no secret or internal
 * detail is in the answer. After the run: no table changed but the rate limiter's state.
 *
 * Run by `deno task fuzz [--runs N] [--seed S]` (10,000 cases, seed 20261130 by default) on a
 * stack whose rate limits are raised out of reach: this tests input handling, not the limiter.
 * pg_cron's jobs are paused for the run (they write on their own schedule) and put back after.
 * A bad request must be answered 4xx (health, public, and CORS preflights may answer 2xx). A
 * failing case is printed shrunk, naming its credentials rather than showing them, with its seed
 * and path to replay it; it then becomes a regular test. Writes are checked over the whole run
 * (the digests of every table in public and private), so a write names its tables, not its case.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { SignJWT } from "jose";
import { mintConsoleToken, stackSigningKey } from "../../scripts/console_token.ts";
import { FILTER_KEYS } from "../../supabase/functions/console-api/params.ts";
import { userJwt } from "../_support/pipeline.ts";
import { connect, testStack } from "../_support/stack.ts";

const stack = testStack();
const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? 10_000);
const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261130);
const CUSTOMER = "fuzz-customer";
const signingKey = stackSigningKey(stack.stateDir);

/** The one table a bad request may change: the limiter's buckets. */
const ALLOWED_WRITES = new Set(["private.rate_limits"]);

const SECRETS: Record<string, string> = {
  "the service role key": stack.serviceRoleKey,
  "the JWT secret": stack.jwtSecret,
  "the AWS secret": stack.awsSecretAccessKey,
  "the Slack webhook token": stack.slackWebhookUrl.split("/").pop()!,
  "the metrics token": stack.metricsToken,
  "the signing key's private part": signingKey.d!,
};
/** What an answer must never show: stack traces, file paths, SQL errors. */
const INTERNAL = new RegExp(
  [
    String.raw`\.ts:\d+`,
    "file://",
    "node_modules",
    "/work/",
    String.raw`\bat (async )?[\w$.<>]+ \(`,
    "TypeError",
    "Cannot read properties",
    "SQLSTATE",
    'relation "',
    "violates",
    "syntax error at",
    "invalid input syntax",
    "permission denied",
    "postgres(ql)?://",
    String.raw`127\.0\.0\.1:\d+`,
  ].join("|"),
  "i",
);

const b64url = (s: string) => btoa(s).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");

/** Credentials by name: a case names them, so a failing case prints no secret. */
async function credentials(): Promise<Record<string, Record<string, string>>> {
  const now = Math.floor(Date.now() / 1000);
  const forged = await new SignJWT({ role: "service_role" }).setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode("not-the-secret-but-long-enough-0123456789"));
  const expired = await new SignJWT({ role: "service_role" }).setProtectedHeader({ alg: "HS256" })
    .setIssuedAt(now - 7200).setExpirationTime(now - 3600)
    .sign(new TextEncoder().encode(stack.jwtSecret));
  const noneAlg = `${b64url('{"alg":"none","typ":"JWT"}')}.${b64url('{"role":"service_role"}')}.`;
  const consoleToken = (role: "viewer" | "operator", extra: { minutes?: number }) =>
    mintConsoleToken(signingKey, { role, issuer: stack.apiUrl, ...extra });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  return {
    none: {},
    "empty bearer": { authorization: "Bearer" },
    basic: { authorization: "Basic dXNlcjpwYXNz" },
    "forged service JWT": bearer(forged),
    "expired service JWT": bearer(expired),
    "alg none JWT": bearer(noneAlg),
    "mangled service key": bearer(`${stack.serviceRoleKey.slice(0, -2)}xx`),
    "unknown API key": { "x-api-key": "jq_live_0000000000000000000000000000" },
    "anon apikey only": { apikey: stack.anonKey },
    "anon key as bearer": bearer(stack.anonKey),
    "operator token, foreign signature": bearer(
      (await consoleToken("operator", {})).replace(/\.[^.]+$/, `.${b64url("x".repeat(64))}`),
    ),
    service: bearer(stack.serviceRoleKey),
    customer: bearer(await userJwt(stack, CUSTOMER)),
    "other customer": bearer(await userJwt(stack, "someone-else")),
    viewer: bearer(await consoleToken("viewer", {})),
    operator: bearer(await consoleToken("operator", {})),
  };
}

/** Credentials no function accepts. */
const BAD = [
  "none",
  "empty bearer",
  "basic",
  "forged service JWT",
  "expired service JWT",
  "alg none JWT",
  "mangled service key",
  "unknown API key",
  "anon apikey only",
  "anon key as bearer",
  "operator token, foreign signature",
];

interface Case {
  method: string;
  path: string;
  /** Whose credentials (a name in credentials()). */
  who: string;
  headers: Record<string, string>;
  body?: string;
  /** Must be answered 4xx (bad input or credentials); otherwise any answer below 500. */
  refused: boolean;
}

// --- Arbitraries ---------------------------------------------------------------------------

const FUNCTIONS = ["queue", "health", "dispatch", "dlq-monitor", "console-api"];
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];
const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.constantFrom(
    "..",
    "%2e%2e",
    "%",
    "%00",
    "'; drop table public.jobs; --",
    "${jndi:x}",
    "<script>",
    "null",
    "-1",
    "0",
    "1e999",
    "00000000-0000-0000-0000-000000000000",
    "a".repeat(300),
  ),
);
const segment = nasty.map((s) => encodeURIComponent(s));
const query = fc.dictionary(
  fc.oneof(
    fc.constantFrom(...FILTER_KEYS, "limit", "cursor", "id", "window", "runs"),
    fc.string({ maxLength: 8 }),
  ),
  nasty,
  { maxKeys: 4 },
).map((q) => Object.keys(q).length ? `?${new URLSearchParams(q)}` : "");
const json = fc.jsonValue({ maxDepth: 3 });
/** Text that does not parse as JSON ("{" + "}" would: that is good input). */
function notJson(text: string): boolean {
  try {
    JSON.parse(text);
    return false;
  } catch {
    return true;
  }
}
const junkHeaders = fc.dictionary(
  fc.constantFrom("content-type", "idempotency-key", "accept", "x-forwarded-for", "origin"),
  fc.string({ maxLength: 60 }).filter((v) => /^[\x20-\x7e]*$/.test(v)),
  { maxKeys: 3 },
);

/** Bodies an enqueue must refuse: each breaks at least one rule. */
const badJob = fc.oneof(
  json.filter((v) => v === null || typeof v !== "object" || Array.isArray(v)),
  fc.record({ package_size: json }, { requiredKeys: [] }).map((o) => ({ ...o, unknown_field: 1 })),
  fc.record({ priority_level: json, payload: json }, { requiredKeys: [] }),
  fc.oneof(
    fc.integer({ max: 0 }),
    fc.integer({ min: 10_001 }),
    fc.double({ noInteger: true }),
    fc.string(),
    fc.constant(null),
  ).map((package_size) => ({ package_size })),
  fc.record({ package_size: fc.integer({ min: 1, max: 10 }), payload: json })
    .filter((o) =>
      o.payload !== null && (typeof o.payload !== "object" || Array.isArray(o.payload))
    ),
  // A number out of range, or a name no tier has (the database refuses it in the enqueue call).
  fc.record({
    package_size: fc.integer({ min: 1, max: 10 }),
    priority_level: fc.oneof(
      fc.integer({ min: 11 }),
      fc.integer({ max: -1 }),
      fc.string({ maxLength: 20 }).map((s) => `no-tier-${s}`),
    ),
  }),
);
const badQueueBody = fc.oneof(
  badJob.map((b) => JSON.stringify(b)),
  fc.array(badJob, { minLength: 1, maxLength: 5 }).chain((bad) =>
    fc.array(fc.record({ package_size: fc.integer({ min: 1, max: 10 }) }), { maxLength: 3 }).map((
      good,
    ) => JSON.stringify({ jobs: [...good, ...bad] }))
  ),
  json.filter((j) => j !== null && typeof j === "object" && !Array.isArray(j)).map((o) =>
    JSON.stringify({ jobs: o })
  ),
  fc.constant(JSON.stringify({ jobs: [] })),
  fc.string({ maxLength: 60 }).map((s) => `{${s}`).filter(notJson),
);

/** console-api actions with a body it must refuse before anything is done or audited. */
const badAction = fc.oneof(
  fc.record({
    path: fc.constant("/operations"),
    body: fc.oneof(
      json.map((b) => JSON.stringify(b)).filter((s) => !/"action"/.test(s)),
      fc.record({
        action: fc.string({ maxLength: 10 }).filter((a) => a !== "retry" && a !== "cancel"),
        filter: json,
      }).map((b) => JSON.stringify(b)),
      fc.record({
        action: fc.constantFrom("retry", "cancel"),
        // At least one id that is no job id at all (a list of well-formed ids is good input).
        ids: fc.array(nasty, { minLength: 1, maxLength: 3 })
          .filter((ids) => ids.some((id) => !/^[0-9a-f-]{36}$/i.test(id))),
      }).map((b) => JSON.stringify(b)),
      fc.record({
        action: fc.constantFrom("retry", "cancel"),
        filter: fc.record({
          status: fc.string({ maxLength: 6 }),
          created_after: nasty,
        }),
      }).filter((b) => !["pending", "in_progress", "failed", "completed"].includes(b.filter.status))
        .map((b) => JSON.stringify(b)),
      fc.string({ maxLength: 40 }).map((s) => `[${s}`).filter(notJson),
    ),
  }),
  fc.record({
    path: fc.constant("/dlq/redrive"),
    body: fc.oneof(
      fc.record({
        limit: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 10_001 }), fc.string()),
      })
        .map((b) => JSON.stringify(b)),
      fc.record({ limit: fc.integer({ min: 1, max: 10 }), surprise: json }).map((b) =>
        JSON.stringify(b)
      ),
      fc.string({ maxLength: 20 }).map((s) => `{${s}`).filter(notJson),
    ),
  }),
  fc.record({
    // Ids the router lets through (36 hex digits and dashes) that are no UUID, and others.
    path: fc.tuple(
      fc.oneof(
        segment.filter((s) => !/^[0-9a-fA-F-]{36}$/.test(s)),
        fc.array(fc.constantFrom(..."0123456789abcdefABCDEF-"), { minLength: 36, maxLength: 36 })
          .map((c) => c.join(""))
          .filter((id) =>
            !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)
          ),
      ),
      fc.constantFrom("retry", "cancel"),
    )
      .map(([id, a]) => `/jobs/${id}/${a}`),
    body: fc.constant(""),
  }),
);

/** dlq-monitor's redrive bodies it must refuse (a good one moves messages). */
const badRedrive = fc.oneof(
  json.filter((j) => j === null || typeof j !== "object" || Array.isArray(j)).map((j) =>
    JSON.stringify(j)
  ),
  fc.record({ limit: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 10_001 }), nasty) })
    .map((b) => JSON.stringify(b)),
  fc.record({ dryRun: fc.oneof(fc.string(), fc.integer()) }).map((b) => JSON.stringify(b)),
  fc.record({ limit: fc.integer({ min: 1, max: 10 }), surprise: json }).map((b) =>
    JSON.stringify(b)
  ),
  fc.string({ maxLength: 20 }).map((s) => `{${s}`).filter(notJson),
);

/** Bulk requests refused whole: too many jobs, or an item with a bad idempotency key. */
const badBulk = fc.oneof(
  fc.integer({ min: 501, max: 600 }).map((n) =>
    JSON.stringify({ jobs: Array.from({ length: n }, () => ({ package_size: 1 })) })
  ),
  fc.oneof(fc.integer(), fc.constant(""), fc.string({ minLength: 300, maxLength: 400 }), json)
    .filter((k) => typeof k !== "string" || k.length === 0 || k.length > 255)
    .map((key) =>
      JSON.stringify({ jobs: [{ package_size: 1 }, { package_size: 2, idempotency_key: key }] })
    ),
  fc.string({ minLength: 1, maxLength: 20 }).map((key) =>
    JSON.stringify({
      jobs: [{ package_size: 1, idempotency_key: key }, { package_size: 1, idempotency_key: key }],
    })
  ),
);

function cases(): fc.Arbitrary<Case> {
  const path = (fn: string) =>
    fc.array(segment, { maxLength: 3 }).chain((segs) =>
      query.map((q) => `/${fn}${segs.length ? `/${segs.join("/")}` : ""}${q}`)
    );
  const anyBody = fc.option(fc.oneof(json.map((j) => JSON.stringify(j)), fc.string()), {
    nil: undefined,
  });
  const contentType = fc.oneof(
    fc.constant("application/json"),
    fc.constantFrom("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""),
  );
  return fc.oneof(
    // Every function (and names that are none), anything, with credentials nobody accepts:
    // refused, but for health (public) and CORS preflights.
    fc.record({
      method: fc.constantFrom(...METHODS),
      path: fc.oneof(fc.constantFrom(...FUNCTIONS), segment).chain(path),
      who: fc.constantFrom(...BAD),
      headers: junkHeaders,
      body: anyBody,
    }).map((c) => ({
      ...c,
      refused: c.method !== "OPTIONS" && !/^\/health(\/|\?|$)/.test(c.path),
    })),
    // queue with credentials it accepts, and an enqueue (single or bulk) that breaks a rule.
    fc.record({
      method: fc.constant("POST"),
      path: fc.oneof(fc.constant(`/queue/${CUSTOMER}`), segment.map((s) => `/queue/${s}`)),
      who: fc.constantFrom("service", "customer"),
      headers: fc.tuple(junkHeaders, contentType).map(([h, type]) => ({
        ...h,
        "content-type": type,
      })),
      body: fc.oneof(badQueueBody, badBulk),
      refused: fc.constant(true),
    }),
    // queue reads with every kind of customer credentials.
    fc.record({
      method: fc.constantFrom("GET", "PUT", "DELETE"),
      path: path("queue"),
      who: fc.constantFrom("service", "customer", "other customer"),
      headers: fc.constant({}),
      body: fc.constant(undefined),
      refused: fc.constant(false),
    }).map((c) => ({ ...c, refused: c.method !== "GET" })),
    // queue: another customer's token with a good body: refused before anything is written.
    fc.record({
      method: fc.constant("POST"),
      path: fc.constant(`/queue/${CUSTOMER}`),
      who: fc.constant("other customer"),
      headers: fc.constant({ "content-type": "application/json" }),
      body: fc.constant(JSON.stringify({ package_size: 1 })),
      refused: fc.constant(true),
    }),
    // health: anything, with any credentials (it only reads).
    fc.record({
      method: fc.constantFrom(...METHODS),
      path: path("health"),
      who: fc.constantFrom("service", "customer", "viewer", ...BAD),
      headers: junkHeaders,
      body: anyBody,
      refused: fc.constant(false),
    }),
    // The DLQ monitor's redrive, with the service key, and a body it must refuse.
    fc.record({
      method: fc.constant("POST"),
      path: fc.constant("/dlq-monitor/redrive"),
      who: fc.constant("service"),
      headers: fc.constant({ "content-type": "application/json" }),
      body: badRedrive,
      refused: fc.constant(true),
    }),
    // console-api reads with every role: any path and filter (reads never write).
    fc.record({
      method: fc.constant("GET"),
      path: fc.oneof(
        path("console-api"),
        fc.constantFrom(
          "/jobs",
          "/leases",
          "/recoveries",
          "/workers",
          "/dlq",
          "/alerts",
          "/rate-limits",
          "/schedules",
          "/operations",
          "/audit",
          "/metrics",
        ).chain((p) => query.map((q) => `/console-api${p}${q}`)),
        segment.map((s) => `/console-api/jobs/${s}`),
      ),
      who: fc.constantFrom("viewer", "operator", "service", "customer"),
      headers: fc.constant({}),
      body: fc.constant(undefined),
      refused: fc.constant(false),
    }),
    // console-api actions an operator (or the service key) asks with bad input. (A viewer's
    // action is refused and audited by design: that write is the audit trail.)
    fc.record({
      method: fc.constant("POST"),
      action: badAction,
      who: fc.constantFrom("operator", "service"),
    }).map(({ method, action, who }) => ({
      method,
      path: `/console-api${action.path}`,
      who,
      headers: { "content-type": "application/json" },
      body: action.body,
      refused: true,
    })),
  );
}

// --- Checks --------------------------------------------------------------------------------

async function ask(
  c: Case,
  creds: Record<string, Record<string, string>>,
): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(`${stack.apiUrl}/functions/v1${c.path}`, {
    method: c.method,
    headers: { ...c.headers, ...creds[c.who] },
    redirect: "manual",
    // A hung function fails its case instead of stalling the run.
    signal: AbortSignal.timeout(15_000),
    ...(c.body !== undefined && !["GET", "HEAD"].includes(c.method) ? { body: c.body } : {}),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function check(c: Case, res: { status: number; headers: Headers; text: string }): void {
  const what = `${c.method} ${c.path} as ${c.who} -> ${res.status}`;
  assert.ok(res.status < 500, `${what}: ${res.text.slice(0, 300)}`);
  if (c.refused) assert.ok(res.status >= 400, `${what}: bad input was not refused`);
  const headers = [...res.headers].map(([k, v]) => `${k}: ${v}`).join("\n");
  for (const [name, secret] of Object.entries(SECRETS)) {
    assert.ok(!`${headers}\n${res.text}`.includes(secret), `${what} shows ${name}`);
  }
  assert.doesNotMatch(headers, INTERNAL, `${what}: a header shows an internal detail`);
  assert.doesNotMatch(res.text, INTERNAL, `${what} shows an internal detail`);
  if (res.status >= 400 && c.method !== "HEAD") {
    const body = JSON.parse(res.text);
    for (const field of ["error", "code", "message"]) {
      assert.equal(typeof body[field], "string", `${what}: the error shape has no ${field}`);
    }
  }
}

/** A digest of every table's rows (public and private), to show what changed. */
async function digests(): Promise<Map<string, string>> {
  const sql = connect(stack.dbUrl);
  try {
    const tables = await sql<{ name: string }[]>`
      select format('%I.%I', schemaname, relname) as name from pg_stat_user_tables
       where schemaname in ('public', 'private') order by 1`;
    const out = new Map<string, string>();
    for (const { name } of tables) {
      const [row] = await sql.unsafe(
        `select md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as d from ${name} t`,
      );
      out.set(name, row!.d as string);
    }
    return out;
  } finally {
    await sql.end();
  }
}

/** pg_cron's jobs off (each job's own state is put back after) or on again. */
async function setCron(active: Map<number, boolean> | "off"): Promise<Map<number, boolean>> {
  const sql = connect(stack.dbUrl);
  try {
    const jobs = await sql<
      { jobid: number; active: boolean }[]
    >`select jobid, active from cron.job`;
    for (const job of jobs) {
      const want = active === "off" ? false : active.get(Number(job.jobid)) ?? job.active;
      await sql`select cron.alter_job(${job.jobid}, active => ${want})`;
    }
    return new Map(jobs.map((j) => [Number(j.jobid), j.active]));
  } finally {
    await sql.end();
  }
}

/**
 * The tables' digests once nothing moves: a scheduled run that began before the pause (and the
 * function it asked for through pg_net) has finished when two pictures a second apart agree.
 */
async function settledDigests(): Promise<Map<string, string>> {
  let last = await digests();
  for (let i = 0; i < 30; i++) {
    await new Promise((r) => setTimeout(r, 1_000));
    const next = await digests();
    if ([...next].every(([t, d]) => last.get(t) === d)) return next;
    last = next;
  }
  throw new Error("The database did not settle within 30 s of pausing pg_cron");
}

Deno.test({
  name:
    `fuzz: ${RUNS} bad requests (seed ${SEED}): no 5xx, one error shape, nothing leaked, nothing written`,
  // A run takes minutes: no other test shares it.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const creds = await credentials();
    const cron = await setCron("off");
    try {
      const before = await settledDigests();
      const started = performance.now();
      await fc.assert(
        fc.asyncProperty(cases(), async (c) => check(c, await ask(c, creds))),
        { numRuns: RUNS, seed: SEED, verbose: 1 },
      );
      const seconds = (performance.now() - started) / 1000;
      console.log(`${RUNS} cases in ${seconds.toFixed(0)} s (${(RUNS / seconds).toFixed(0)}/s)`);
      const after = await digests();
      const changed = [...after].filter(([t, d]) => before.get(t) !== d && !ALLOWED_WRITES.has(t))
        .map(([t]) => t);
      assert.deepEqual(changed, [], "tables written by bad requests");
    } finally {
      await setCron(cron);
    }
  },
});
