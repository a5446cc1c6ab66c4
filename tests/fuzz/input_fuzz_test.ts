/**
 * Property-based bad input against every function, over real HTTP through the local gateway
 * (fast-check): paths, methods, headers, tokens, bodies, bulk arrays, console-api filters and
 * actions. For every request: no 5xx, an error is the one JSON shape, and no secret or internal
 * detail is in the answer. After the run: no table changed but the rate limiter's state.
 *
 * Run by `deno task fuzz [--runs N] [--seed S]` (10,000 cases, seed 20261130 by default) on a
 * stack whose rate limits are raised out of reach: this tests input handling, not the limiter.
 * pg_cron's jobs are paused for the run (they write on their own schedule) and resumed after.
 * A failing case is printed shrunk with its seed and path; it then becomes a regular test.
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
const INTERNAL =
  /\.ts:\d+|file:\/\/|SQLSTATE|\bat (async )?[\w$.<>]+ \(|relation "|violates|syntax error at|node_modules|\/work\//i;

const b64url = (s: string) => btoa(s).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");

async function credentials() {
  const now = Math.floor(Date.now() / 1000);
  const forged = await new SignJWT({ role: "service_role" }).setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode("not-the-secret-but-long-enough-0123456789"));
  const expired = await new SignJWT({ role: "service_role" }).setProtectedHeader({ alg: "HS256" })
    .setIssuedAt(now - 7200).setExpirationTime(now - 3600)
    .sign(new TextEncoder().encode(stack.jwtSecret));
  const noneAlg = `${b64url('{"alg":"none","typ":"JWT"}')}.${b64url('{"role":"service_role"}')}.`;
  return {
    /** Never accepted anywhere. */
    bad: [
      {},
      { authorization: "Bearer" },
      { authorization: "Basic dXNlcjpwYXNz" },
      { authorization: `Bearer ${forged}` },
      { authorization: `Bearer ${expired}` },
      { authorization: `Bearer ${noneAlg}` },
      { authorization: `Bearer ${stack.serviceRoleKey.slice(0, -2)}xx` },
      { "x-api-key": "jq_live_0000000000000000000000000000" },
      { apikey: stack.anonKey },
      { authorization: `Bearer ${stack.anonKey}` },
    ] as Record<string, string>[],
    service: { authorization: `Bearer ${stack.serviceRoleKey}` },
    customer: { authorization: `Bearer ${await userJwt(stack, CUSTOMER)}` },
    otherCustomer: { authorization: `Bearer ${await userJwt(stack, "someone-else")}` },
    viewer: {
      authorization: `Bearer ${await mintConsoleToken(signingKey, {
        role: "viewer",
        issuer: stack.apiUrl,
      })}`,
    },
    operator: {
      authorization: `Bearer ${await mintConsoleToken(signingKey, {
        role: "operator",
        issuer: stack.apiUrl,
      })}`,
    },
  };
}

interface Case {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
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
    path: fc.tuple(
      segment.filter((s) => !/^[0-9a-fA-F-]{36}$/.test(s)),
      fc.constantFrom("retry", "cancel"),
    )
      .map(([id, a]) => `/jobs/${id}/${a}`),
    body: fc.constant(""),
  }),
);

function cases(creds: Awaited<ReturnType<typeof credentials>>): fc.Arbitrary<Case> {
  const bad = fc.constantFrom(...creds.bad);
  const path = (fn: string) =>
    fc.array(segment, { maxLength: 3 }).chain((segs) =>
      query.map((q) => `/${fn}${segs.length ? `/${segs.join("/")}` : ""}${q}`)
    );
  const anyBody = fc.option(fc.oneof(json.map((j) => JSON.stringify(j)), fc.string()), {
    nil: undefined,
  });
  return fc.oneof(
    // Every function (and names that are none), anything, with credentials nobody accepts.
    fc.record({
      method: fc.constantFrom(...METHODS),
      path: fc.oneof(fc.constantFrom(...FUNCTIONS), segment).chain(path),
      headers: fc.tuple(bad, junkHeaders).map(([a, b]) => ({ ...b, ...a })),
      body: anyBody,
    }),
    // queue with credentials it accepts: any read, and enqueues that must be refused.
    fc.record({
      method: fc.constant("POST"),
      path: fc.oneof(fc.constant(`/queue/${CUSTOMER}`), segment.map((s) => `/queue/${s}`)),
      headers: fc.tuple(fc.constantFrom(creds.service, creds.customer), junkHeaders).map((
        [a, b],
      ) => ({ ...b, ...a, "content-type": "application/json" })),
      body: badQueueBody,
    }),
    fc.record({
      method: fc.constantFrom("GET", "PUT", "DELETE"),
      path: path("queue"),
      headers: fc.constantFrom(creds.service, creds.customer, creds.otherCustomer),
      body: fc.constant(undefined),
    }),
    // queue: another customer's token, a valid body: refused before anything is written.
    fc.record({
      method: fc.constant("POST"),
      path: fc.constant(`/queue/${CUSTOMER}`),
      headers: fc.constant({ ...creds.otherCustomer, "content-type": "application/json" }),
      body: fc.constant(JSON.stringify({ package_size: 1 })),
    }),
    // health: anything, with any credentials (it only reads).
    fc.record({
      method: fc.constantFrom(...METHODS),
      path: path("health"),
      headers: fc.tuple(
        fc.constantFrom(creds.service, creds.customer, creds.viewer, ...creds.bad),
        junkHeaders,
      ).map(([a, b]) => ({ ...b, ...a })),
      body: anyBody,
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
      headers: fc.constantFrom(creds.viewer, creds.operator, creds.service, creds.customer),
      body: fc.constant(undefined),
    }),
    // console-api actions an operator (or the service key) asks with bad input.
    fc.record({
      method: fc.constant("POST"),
      action: badAction,
      headers: fc.constantFrom(creds.operator, creds.service),
    }).map(({ method, action, headers }) => ({
      method,
      path: `/console-api${action.path}`,
      headers: { ...headers, "content-type": "application/json" },
      body: action.body,
    })),
  );
}

// --- Checks --------------------------------------------------------------------------------

async function ask(c: Case): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(`${stack.apiUrl}/functions/v1${c.path}`, {
    method: c.method,
    headers: c.headers,
    ...(c.body !== undefined && !["GET", "HEAD"].includes(c.method) ? { body: c.body } : {}),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function check(c: Case, res: { status: number; headers: Headers; text: string }): void {
  const what = `${c.method} ${c.path} -> ${res.status}`;
  assert.ok(res.status < 500, `${what}: ${res.text.slice(0, 300)}`);
  const everything = `${[...res.headers].map(([k, v]) => `${k}: ${v}`).join("\n")}\n${res.text}`;
  for (const [name, secret] of Object.entries(SECRETS)) {
    assert.ok(!everything.includes(secret), `${what} shows ${name}`);
  }
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

async function pauseCron(active: boolean): Promise<void> {
  const sql = connect(stack.dbUrl);
  try {
    await sql`select cron.alter_job(jobid, active => ${active}) from cron.job`;
    // A run already started finishes before the snapshot.
    if (!active) {
      for (let i = 0; i < 30; i++) {
        const [row] = await sql`select count(*)::int as n from cron.job_run_details
                                 where status in ('starting', 'running')`;
        if (row!.n === 0) break;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    await sql.end();
  }
}

Deno.test({
  name:
    `fuzz: ${RUNS} bad requests (seed ${SEED}): no 5xx, one error shape, nothing leaked, nothing written`,
  // A run takes minutes: no other test shares it.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const creds = await credentials();
    await pauseCron(false);
    try {
      // Let what pg_net and the functions were doing settle, then take the picture.
      await new Promise((r) => setTimeout(r, 2_000));
      const before = await digests();
      const started = performance.now();
      await fc.assert(
        fc.asyncProperty(cases(creds), async (c) => check(c, await ask(c))),
        { numRuns: RUNS, seed: SEED, verbose: 1 },
      );
      const seconds = (performance.now() - started) / 1000;
      console.log(`${RUNS} cases in ${seconds.toFixed(0)} s (${(RUNS / seconds).toFixed(0)}/s)`);
      const after = await digests();
      const changed = [...after].filter(([t, d]) => before.get(t) !== d && !ALLOWED_WRITES.has(t))
        .map(([t]) => t);
      assert.deepEqual(changed, [], "tables written by bad requests");
    } finally {
      await pauseCron(true);
    }
  },
});
