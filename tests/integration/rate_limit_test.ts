/**
 * The rate limiter on real HTTP and the real database, built as the functions build it
 * (createRateLimitDeps: batched decisions on a pool of their own, the shipped 300 ms deadline,
 * the circuit breaker and the in-memory fallback): exact under concurrent bursts, headers and
 * rollover, spoofed X-Forwarded-For, and the database slow, silent, refusing us or cut off.
 */
import assert from "node:assert/strict";
import { withRateLimit } from "../../supabase/functions/_shared/ratelimit/middleware.ts";
import { type Queryable, sqlLimiter } from "../../supabase/functions/_shared/ratelimit/limiter.ts";
import {
  createLimiterDb,
  createRateLimitDeps,
  rateLimitConfigFromEnv,
} from "../../supabase/functions/_shared/ratelimit/setup.ts";
import { createDb } from "../../supabase/functions/_shared/db.ts";
import { connect, testStack } from "../_support/stack.ts";
import { userJwt } from "../_support/pipeline.ts";
import { tcpProxy } from "../_support/tcp_proxy.ts";

const stack = testStack();

/** A real HTTP server: the rate-limit middleware, as shipped, in front of a trivial handler. */
async function withServer(
  options: { spec: string; db: Queryable },
  fn: (url: string) => Promise<void>,
): Promise<void> {
  const fnName = `rl-${crypto.randomUUID().slice(0, 8)}`;
  const config = rateLimitConfigFromEnv({ RATE_LIMIT_PRESET_STANDARD: options.spec }, fnName);
  const handler = withRateLimit(
    () => Promise.resolve(new Response("ok")),
    createRateLimitDeps(config, options.db),
  );
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}/`);
  } finally {
    await server.shutdown();
  }
}

/** The limiter's own pool, as the functions make it. */
const limiterDb = (url = stack.dbUrl) => createLimiterDb(url);

/** The limiter's pool reaching the test database through a proxy the test can break. */
function limiterBehindProxy() {
  const proxy = tcpProxy(Number(new URL(stack.dbUrl).port));
  const url = new URL(stack.dbUrl);
  url.port = String(proxy.port);
  return { proxy, db: limiterDb(url.toString()) };
}

async function timedStatus(target: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const res = await fetch(target);
  await res.body?.cancel();
  return { status: res.status, ms: performance.now() - started };
}

async function burst(url: string, n: number, init: RequestInit = {}): Promise<number[]> {
  return await Promise.all(Array.from({ length: n }, async () => {
    const res = await fetch(url, init);
    await res.body?.cancel();
    return res.status;
  }));
}

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

Deno.test("a concurrent burst admits exactly the limit (1, 3, 10, 100)", async () => {
  const db = limiterDb();
  try {
    for (const [limit, requests] of [[1, 50], [3, 50], [10, 100], [100, 500]]) {
      // Per hour, so no request refills while the burst is under way.
      await withServer({ spec: `${limit}/3600`, db }, async (url) => {
        const statuses = await burst(url, requests!);
        assert.equal(count(statuses, 200), limit, `limit ${limit}`);
        assert.equal(count(statuses, 429), requests! - limit!, `limit ${limit}`);
      });
    }
  } finally {
    await db.end();
  }
});

Deno.test("concurrent requests reaching the lock out of order are all admitted while room remains", async () => {
  // Two requests for a new key, each deciding with its own clock: the one that read the clock
  // first may take the row lock second (or see the other's row on its plain read). Its decision
  // must use a clock read after that, or it is refused although there was room (seen with
  // limit 2 per 60 s). The lock case failed every run of this test before the fix; the read
  // case is rarer (seen once in CI, in 100 rounds).
  const db = createDb(stack.dbUrl, { max: 4 });
  const limiter = sqlLimiter(db);
  try {
    let refused = 0;
    for (let round = 0; round < 500; round++) {
      const key = crypto.randomUUID().replaceAll("-", "").padEnd(64, "0");
      const request = { key, limit: 2, periodMs: 60_000, failMode: "open" as const };
      const decisions = await Promise.all([limiter.check([request]), limiter.check([request])]);
      refused += decisions.filter(([d]) => !d!.allowed).length;
    }
    assert.equal(refused, 0, "refused although the limit had room");
  } finally {
    await db.end();
  }
});

Deno.test("after the limit, capacity comes back one request per period/limit", async () => {
  const db = limiterDb();
  try {
    await withServer({ spec: "3/2", db }, async (url) => {
      assert.deepEqual(await burst(url, 3), [200, 200, 200]);
      const refused = await fetch(url);
      assert.equal(refused.status, 429);
      const retryAfter = Number(refused.headers.get("retry-after"));
      assert.equal(retryAfter, 1, "2 s / 3 requests: about 0.7 s, rounded up to 1 s");
      await refused.body?.cancel();
      await new Promise((r) => setTimeout(r, 700));
      const again = await fetch(url);
      assert.equal(again.status, 200, "one request has refilled");
      await again.body?.cancel();
      const more = await fetch(url);
      assert.equal(more.status, 429, "but only one");
      await more.body?.cancel();
    });
  } finally {
    await db.end();
  }
});

Deno.test("through the gateway: 500 concurrent calls from one user admit 100 (plus only what refilled)", async () => {
  const token = await userJwt(stack, `rl-${crypto.randomUUID().slice(0, 8)}`);
  const customer = JSON.parse(atob(token.split(".")[1]!)).app_metadata.customer_id;
  const url = `${stack.apiUrl}/functions/v1/queue/${customer}`;
  // Keep one refusal whole, to check what a refused client sees. (A request sent after the
  // burst could already be admitted: the bucket refills one request every 0.6 s.)
  let refused: { headers: Headers; body: string } | undefined;
  const started = performance.now();
  const statuses = await Promise.all(Array.from({ length: 500 }, async () => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    if (res.status === 429 && !refused) refused = { headers: res.headers, body: await res.text() };
    else await res.body?.cancel();
    return res.status;
  }));
  // standard is 100 per 60 s: one request refills every 0.6 s, and only those may add to 100.
  const refilled = Math.floor((performance.now() - started) / 600);
  const admitted = count(statuses, 200);
  assert.ok(
    admitted >= 100 && admitted <= 100 + refilled,
    `admitted ${admitted}, refilled ${refilled}`,
  );
  assert.equal(count(statuses, 429), 500 - admitted);

  assert.ok(refused);
  assert.equal(refused.headers.get("ratelimit-policy"), '"standard";q=100;w=60');
  assert.match(refused.headers.get("ratelimit")!, /^"standard";r=0;t=\d+$/);
  const retryAfter = Number(refused.headers.get("retry-after"));
  assert.ok(retryAfter >= 1 && retryAfter <= 60);
  assert.deepEqual(JSON.parse(refused.body), {
    error: "Too many requests",
    code: "rate_limited",
    message: "Rate limit exceeded. Max 100 requests per 60s",
    retryAfter,
  });
});

Deno.test("a spoofed X-Forwarded-For on every request buys no extra requests", async () => {
  const sql = connect(stack.dbUrl);
  // Earlier tests spent some of the loopback address's budget: start from a full bucket.
  await sql`delete from private.rate_limits`;
  try {
    // Unauthenticated calls are keyed by the client address the gateway saw.
    const url = `${stack.apiUrl}/functions/v1/queue/spoof-target`;
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 130 }, async (_, i) => {
      const res = await fetch(url, { headers: { "x-forwarded-for": `10.${i}.0.1` } });
      await res.body?.cancel();
      return { status: res.status, limited: res.headers.has("ratelimit") };
    }));
    const refilled = Math.floor((performance.now() - started) / 600);
    const statuses = answers.map((a) => a.status);
    assert.ok(answers.every((a) => a.limited), "every answer carries RateLimit");
    const reached = count(statuses, 401);
    assert.ok(
      reached >= 100 && reached <= 100 + refilled,
      `${reached} reached the function (100 allowed, ${refilled} refilled); new addresses bought nothing`,
    );
    assert.equal(count(statuses, 429), 130 - reached);
  } finally {
    // Leave the shared loopback bucket full for the tests that follow.
    await sql`delete from private.rate_limits`;
    await sql.end();
  }
});

Deno.test("a refused request writes nothing", async () => {
  const sql = connect(stack.dbUrl);
  const db = limiterDb();
  try {
    await withServer({ spec: "2/60", db }, async (url) => {
      assert.deepEqual(await burst(url, 2), [200, 200]);
      const before = await sql`select key, tat from private.rate_limits order by key`;
      const statuses = await burst(url, 20);
      assert.equal(count(statuses, 429), 20, JSON.stringify(statuses));
      const after = await sql`select key, tat from private.rate_limits order by key`;
      assert.deepEqual(after, before);
    });
  } finally {
    await db.end();
    await sql.end();
  }
});

Deno.test("a database that accepts connections and never answers: the first decision waits for the pool, then the fallback limits", async () => {
  // A "database" that accepts connections and never answers.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  const silent = limiterDb(`postgresql://postgres:x@127.0.0.1:${listener.addr.port}/postgres`);
  try {
    await withServer({ spec: "3/60", db: silent }, async (url) => {
      const answers = [];
      for (let i = 0; i < 6; i++) answers.push(await timedStatus(url));
      // The first call goes unanswered past its deadline (one failure), and the pool gives up
      // connecting after 2 s (unreachable: the second): the breaker opens and the fallback
      // decides, that one included. Nothing is admitted without a decision.
      assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 429, 429, 429]);
      assert.ok(answers[0]!.ms < 3_000, `the first within the pool's connect timeout`);
      assert.ok(answers.slice(1).every((a) => a.ms < 1_000), "the rest at once");
    });
  } finally {
    for (const conn of held) conn.close();
    await silent.end();
    listener.close();
    await accepting.catch(() => {});
  }
});

Deno.test("a database that refuses our password: the fallback decides at once", async () => {
  const url = new URL(stack.dbUrl);
  url.password = "wrong";
  const refused = limiterDb(url.toString());
  try {
    await withServer({ spec: "2/60", db: refused }, async (url) => {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await fetch(url);
        statuses.push(res.status);
        await res.body?.cancel();
      }
      assert.deepEqual(statuses, [200, 200, 429]);
    });
  } finally {
    await refused.end();
  }
});

Deno.test("Postgres cut off and back: fail-open falls back, fail-closed answers 503, then the database decides again", async () => {
  const { proxy, db } = limiterBehindProxy();
  const status = timedStatus;
  try {
    await withServer({ spec: "5/3600", db }, async (open) => {
      await withServer({ spec: "5/3600:closed", db }, async (closed) => {
        // Up: the database decides, and charges the shared bucket twice.
        assert.deepEqual([(await status(open)).status, (await status(open)).status], [200, 200]);
        assert.equal((await status(closed)).status, 200);

        proxy.down();
        const during = [];
        for (let i = 0; i < 6; i++) during.push(await status(open));
        assert.deepEqual(
          during.map((d) => d.status),
          [200, 200, 200, 200, 200, 429],
          "the in-memory fallback has its own 5, and still limits",
        );
        assert.ok(during.every((d) => d.ms < 1_000), "each within the deadline");
        const refused = await fetch(closed);
        assert.equal(refused.status, 503);
        assert.equal((await refused.json()).code, "rate_limiter_unavailable");

        proxy.up();
        // After the breaker's cooldown a probe reaches the database, and it decides again: its
        // bucket still has the 3 left from before the outage (the fallback's is spent).
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        const after = [];
        for (let i = 0; i < 4; i++) after.push((await status(open)).status);
        assert.deepEqual(after, [200, 200, 200, 429]);
        assert.equal((await status(closed)).status, 200, "fail-closed decides again too");
      });
    });
  } finally {
    await db.end();
    await proxy.close();
  }
});

Deno.test("a network that goes silent, then comes back: the fallback once the pool gives up, then the database decides again", async () => {
  const { proxy, db } = limiterBehindProxy();
  const answer = timedStatus;
  try {
    await withServer({ spec: "5/3600", db }, async (open) => {
      assert.deepEqual([(await answer(open)).status, (await answer(open)).status], [200, 200]);

      proxy.silence();
      const during = [];
      for (let i = 0; i < 7; i++) during.push(await answer(open));
      // No error, no answer: the first decision waits past its deadline (one failure) until
      // the pool gives up on the statement after 3 s (the second): the breaker opens and the
      // fallback decides, that one included, with its own 5.
      assert.deepEqual(during.map((d) => d.status), [200, 200, 200, 200, 200, 429, 429]);
      assert.ok(during[0]!.ms < 4_000, "the first within the pool's statement timeout");
      assert.ok(during.slice(1).every((d) => d.ms < 1_000), "the rest at once");

      proxy.restore();
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const after = [];
      for (let i = 0; i < 4; i++) after.push((await answer(open)).status);
      // The fallback's bucket is spent (it refused the 6th and 7th), so an admission now is the
      // database's. Its bucket had 3 left; the decision sent into the silence may have been
      // charged when the network came back (a late answer loses a unit, never gives one).
      const admitted = after.filter((status) => status === 200).length;
      assert.equal(after[0], 200, "the database decides again");
      assert.ok(admitted === 3 || admitted === 2, `admitted ${admitted} of the 3 left: ${after}`);
      assert.deepEqual(after.slice(admitted), Array(4 - admitted).fill(429));
    });
  } finally {
    await db.end();
    await proxy.close();
  }
});
