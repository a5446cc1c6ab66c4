import assert from "node:assert/strict";
import { type Caller, sha256Hex } from "../../supabase/functions/_shared/auth.ts";
import { gcra } from "../../supabase/functions/_shared/ratelimit/gcra.ts";
import {
  clientAddress,
  clientIpSourceFromEnv,
  groupAddress,
} from "../../supabase/functions/_shared/ratelimit/client.ts";
import {
  type Limiter,
  memoryLimiter,
  withRefusalCache,
} from "../../supabase/functions/_shared/ratelimit/limiter.ts";
import { resilientLimiter } from "../../supabase/functions/_shared/ratelimit/resilient.ts";
import {
  type RateLimitDeps,
  withRateLimit,
} from "../../supabase/functions/_shared/ratelimit/middleware.ts";
import { policiesFromEnv, PRESETS } from "../../supabase/functions/_shared/ratelimit/policy.ts";
import {
  createRateLimitDeps,
  rateLimitConfigFromEnv,
} from "../../supabase/functions/_shared/ratelimit/setup.ts";

Deno.test("gcra() admits the limit at once, then one per period/limit", () => {
  let tat: number | undefined;
  const allowed: boolean[] = [];
  for (let i = 0; i < 4; i++) {
    const r = gcra(tat, 0, 3, 3000);
    tat = r.tat;
    allowed.push(r.decision.allowed);
  }
  assert.deepEqual(allowed, [true, true, true, false]);
  const refused = gcra(tat, 0, 3, 3000).decision;
  assert.equal(refused.retryAfterMs, 1000);
  assert.equal(gcra(tat, 999, 3, 3000).decision.allowed, false);
  assert.equal(gcra(tat, 1000, 3, 3000).decision.allowed, true);
  assert.equal(gcra(undefined, 0, 3, 3000).decision.remaining, 2);
});

Deno.test("memoryLimiter() charges all policies or none, and keeps at most maxKeys", async () => {
  const limiter = memoryLimiter(2, () => 0);
  const a = { key: "a", limit: 1, periodMs: 1000, failMode: "open" as const };
  const b = { key: "b", limit: 5, periodMs: 1000, failMode: "open" as const };
  assert.deepEqual((await limiter.check([a, b])).map((d) => d.allowed), [true, true]);
  assert.deepEqual((await limiter.check([a, b])).map((d) => d.allowed), [false, false]);
  assert.equal((await limiter.check([b]))[0]!.remaining, 3, "b was charged once, not twice");
  await limiter.check([{ ...a, key: "c" }]);
  // "a" was least recently used and is gone: it starts full again.
  assert.equal((await limiter.check([a]))[0]!.allowed, true);
});

Deno.test("clientAddress() ignores what the client writes on the left of X-Forwarded-For", () => {
  const req = new Request("http://x", {
    headers: { "x-forwarded-for": "6.6.6.6, 203.0.113.7", "cf-connecting-ip": "198.51.100.1" },
  });
  assert.equal(clientAddress(req, { kind: "xff", hops: 1 }), "203.0.113.7");
  assert.equal(clientAddress(req, { kind: "xff", hops: 2 }), "6.6.6.6");
  assert.equal(clientAddress(req, { kind: "xff", hops: 3 }), undefined);
  assert.equal(clientAddress(req, { kind: "header", name: "cf-connecting-ip" }), "198.51.100.1");
  assert.deepEqual(clientIpSourceFromEnv({}, "fn"), { kind: "xff", hops: 1 });
  assert.throws(
    () => clientIpSourceFromEnv({ RATE_LIMIT_CLIENT_IP: "leftmost" }, "fn"),
    /xff:<hops>/,
  );
});

Deno.test("groupAddress() groups IPv6 by /64 and leaves IPv4 alone", () => {
  assert.equal(groupAddress("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(groupAddress("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  assert.equal(groupAddress("[2001:db8::1]"), "2001:db8:0:0::/64");
  assert.equal(groupAddress("::ffff:192.0.2.1"), "192.0.2.1");
  assert.equal(groupAddress("192.0.2.1"), "192.0.2.1");
});

Deno.test("policiesFromEnv() takes presets per function and overrides from env", () => {
  assert.deepEqual(policiesFromEnv({}, "health").policies, [PRESETS.standard]);
  const config = policiesFromEnv({
    RATE_LIMIT_QUEUE: "strict,apiKey",
    RATE_LIMIT_PRESET_STRICT: "5/10:closed",
    RATE_LIMIT_SERVICE: "50/60",
  }, "queue");
  assert.deepEqual(config.policies.map((p) => [p.name, p.limit, p.periodSeconds, p.failMode]), [
    ["strict", 5, 10, "closed"],
    ["apiKey", 10_000, 3600, "open"],
  ]);
  assert.equal(config.service.limit, 50);
  assert.throws(
    () => policiesFromEnv({ RATE_LIMIT_QUEUE: "lenient" }, "queue"),
    /unknown policy 'lenient'/,
  );
  assert.throws(
    () => policiesFromEnv({ RATE_LIMIT_PRESET_STANDARD: "lots" }, "queue"),
    /RATE_LIMIT_PRESET_STANDARD must look like 100\/60/,
  );
});

Deno.test("rateLimitConfigFromEnv() parses policies, client address, fallback size, timeout and refusal flushes", () => {
  assert.deepEqual(rateLimitConfigFromEnv({}, "health"), {
    fn: "health",
    policies: [PRESETS.standard],
    service: policiesFromEnv({}, "health").service,
    clientIp: { kind: "xff", hops: 1 },
    memoryKeys: 10_000,
    timeoutMs: 1_000,
    refusalsFlushMs: 5_000,
  });
  assert.throws(
    () => rateLimitConfigFromEnv({ RATE_LIMIT_TIMEOUT_MS: "soon" }, "queue"),
    /^Error: Cannot start queue: RATE_LIMIT_TIMEOUT_MS must be a non-negative integer, got 'soon'$/,
  );
  assert.throws(
    () => rateLimitConfigFromEnv({ RATE_LIMIT_CLIENT_IP: "leftmost" }, "queue"),
    /Cannot start queue: RATE_LIMIT_CLIENT_IP must be xff:<hops> or header:<name>/,
  );
});

Deno.test("createRateLimitDeps() builds the middleware's deps from the parsed config", async () => {
  const config = rateLimitConfigFromEnv({ RATE_LIMIT_PRESET_STANDARD: "1/60" }, "health");
  const asked: unknown[][] = [];
  const db = {
    query: (_text: string, values: unknown[]) => {
      asked.push(values);
      return Promise.resolve({
        rows: [{ request: 1, allowed: true, remaining: 0, reset_ms: 60_000, retry_after_ms: 0 }],
      });
    },
  };
  const identify = () => Promise.resolve({ kind: "none" as const });
  const deps = createRateLimitDeps(config, db, identify);
  assert.equal(deps.fn, "health");
  assert.deepEqual(deps.config, { policies: config.policies, service: config.service });
  assert.equal(deps.clientIp, config.clientIp);
  assert.equal(deps.identify, identify);
  const res = await withRateLimit(ok, deps)(from("192.0.2.1"));
  assert.equal(res.status, 200);
  await res.body?.cancel();
  assert.equal(asked.length, 1, "the database decides");
  const [requests, keys, limits, periods, costs] = asked[0]!;
  assert.deepEqual([requests, limits, periods, costs], [[1], [1], [60_000], [1]]);
  assert.equal((keys as string[]).length, 1);
});

function deps(limiter: Limiter, overrides: Partial<RateLimitDeps> = {}): RateLimitDeps {
  return {
    fn: "test",
    config: policiesFromEnv({ RATE_LIMIT_PRESET_STANDARD: "2/60" }, "test"),
    clientIp: { kind: "xff", hops: 1 },
    limiter: resilientLimiter({
      primary: limiter,
      fallback: memoryLimiter(),
      timeoutMs: 100,
      log: () => {},
    }),
    ...overrides,
  };
}

const ok = () => Promise.resolve(new Response("fine"));
const from = (ip: string) => new Request("http://x/test", { headers: { "x-forwarded-for": ip } });

Deno.test("withRateLimit() answers 429 with Retry-After and the body clients parse", async () => {
  const handler = withRateLimit(ok, deps(memoryLimiter()));
  const first = await handler(from("192.0.2.1"));
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("ratelimit-policy"), '"standard";q=2;w=60');
  assert.equal(first.headers.get("ratelimit"), '"standard";r=1;t=30');
  await first.body?.cancel();
  await (await handler(from("192.0.2.1"))).body?.cancel();
  const refused = await handler(from("192.0.2.1"));
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("retry-after"), "30");
  assert.equal(refused.headers.get("ratelimit"), '"standard";r=0;t=60');
  assert.deepEqual(await refused.json(), {
    error: "Too many requests",
    code: "rate_limited",
    message: "Rate limit exceeded. Max 2 requests per 60s",
    retryAfter: 30,
  });
  const other = await handler(from("192.0.2.2"));
  assert.equal(other.status, 200, "another client has its own bucket");
  await other.body?.cancel();
});

Deno.test("withRateLimit() gives the service role its own policy", async () => {
  const handler = withRateLimit(
    ok,
    deps(memoryLimiter(), {
      identify: () => Promise.resolve({ kind: "service" }),
    }),
  );
  for (let i = 0; i < 5; i++) {
    const res = await handler(from("192.0.2.1"));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("ratelimit-policy")!, /^"service";q=10000;w=60$/);
    await res.body?.cancel();
  }
});

Deno.test("withRateLimit() keys each kind of caller as the database has stored it so far", async () => {
  // The hex keys were recorded before Caller replaced Identity: the keys (and so every stored
  // bucket) must not change, or existing limits would start over.
  const hash = "a".repeat(64);
  const cases: [Caller, string[]][] = [
    [{ kind: "service" }, ["e75ebccdc52a937d1d554abcd78530a53ef14e6730141e5af89f2a76af060bb1"]],
    [
      {
        kind: "customer",
        customerId: "acme",
        via: "api_key",
        subject: `key:${hash}`,
        apiKeyHash: hash,
      },
      [
        "f6b4bb66dec9322ca7db6a648aa037e2e2a5c1f580dc91ff242d18358a0b8974",
        "55b5767d7715a22543d4dcbcff164966eb531be443e7a1aa8f8da63d780575e3",
      ],
    ],
    [
      { kind: "customer", customerId: "acme", via: "jwt", subject: "user:u-1" },
      ["b854187788a0a2b1a36e76431fde9e2926bcfb34ef081c0e2de8e321071a94e1"],
    ],
    [
      { kind: "user", subject: "user:role:anon" },
      ["63b4994758c1420402de3f16bc8940ebb3694817923ee34d6fabf494fce44b74"],
    ],
    [{ kind: "none" }, ["37a74108708d600ebb5aa2b6e9ac058575874a2e8a1cf4fd2254a09edb428fa3"]],
    [
      { kind: "invalid", reason: "unknown or revoked API key" },
      ["37a74108708d600ebb5aa2b6e9ac058575874a2e8a1cf4fd2254a09edb428fa3"],
    ],
  ];
  for (const [caller, expected] of cases) {
    let keys: string[] = [];
    const recording: Limiter = {
      check: (requests) => {
        keys = requests.map((r) => r.key);
        return memoryLimiter().check(requests);
      },
    };
    const handler = withRateLimit(
      ok,
      deps(recording, {
        fn: "queue",
        config: policiesFromEnv({ RATE_LIMIT_QUEUE: "standard,apiKey" }, "queue"),
        identify: () => Promise.resolve(caller),
      }),
    );
    await (await handler(from("192.0.2.1"))).body?.cancel();
    assert.deepEqual(keys, expected, caller.kind);
  }
  assert.equal(
    sha256Hex("queue\u0000standard\u0000ip:192.0.2.1"),
    "37a74108708d600ebb5aa2b6e9ac058575874a2e8a1cf4fd2254a09edb428fa3",
    "a key is sha256(function NUL policy NUL client)",
  );
});

Deno.test("a database that stops answering: the first decision waits for the pool to give up, then the breaker is open", async () => {
  // As the limiter's pool does (see createLimiterDb), the statement is given up after a while.
  const silent = {
    query: () =>
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("Query read timeout")), 500)
      ),
  };
  const open = withRateLimit(
    ok,
    createRateLimitDeps(
      rateLimitConfigFromEnv({ RATE_LIMIT_PRESET_STANDARD: "2/60" }, "test"),
      silent,
    ),
  );
  const statuses = [];
  for (let i = 0; i < 4; i++) {
    const res = await open(from("192.0.2.9"));
    statuses.push(res.status);
    await res.body?.cancel();
  }
  // The first waits past its 1 s deadline (unanswered: one failure) until the pool gives up
  // (unreachable: the second); the breaker is open, and the in-memory fallback decides it all.
  assert.deepEqual(statuses, [200, 200, 429, 429], "the in-memory fallback limits");
  const closed = withRateLimit(
    ok,
    createRateLimitDeps(
      rateLimitConfigFromEnv({ RATE_LIMIT_PRESET_STANDARD: "2/60:closed" }, "test"),
      silent,
    ),
  );
  const res = await closed(from("192.0.2.9"));
  assert.deepEqual([res.status, (await res.json()).code], [503, "rate_limiter_unavailable"]);
});

Deno.test("withRefusalCache() spares the database a refused key until it may retry", async () => {
  let clock = 0;
  let calls = 0;
  const inner = memoryLimiter(100, () => clock);
  const counted: Limiter = {
    check: (r) => {
      calls++;
      return inner.check(r);
    },
  };
  const limiter = withRefusalCache(counted, 100, () => clock);
  const req = { key: "k", limit: 2, periodMs: 2000, failMode: "open" as const };
  const seen = [];
  for (let i = 0; i < 10; i++) seen.push((await limiter.check([req]))[0]!.allowed);
  assert.deepEqual(seen, [true, true, false, false, false, false, false, false, false, false]);
  assert.equal(calls, 3, "after the first refusal the database is not asked again");
  clock = 999;
  assert.equal((await limiter.check([req]))[0]!.allowed, false);
  assert.equal(calls, 3);
  clock = 1000;
  assert.equal((await limiter.check([req]))[0]!.allowed, true, "asked again once it may pass");
  assert.equal(calls, 4);
});

Deno.test("withRateLimit() counts each refusal for operators, with its policy and client", async () => {
  const refused: unknown[] = [];
  const handler = withRateLimit(
    ok,
    deps(memoryLimiter(), {
      refusals: { refused: (r) => refused.push(r), flush: () => Promise.resolve() },
    }),
  );
  for (let i = 0; i < 3; i++) await (await handler(from("192.0.2.7"))).body?.cancel();
  assert.deepEqual(refused, [{ policy: "standard", client: "ip:192.0.2.7" }], "the third only");
});
