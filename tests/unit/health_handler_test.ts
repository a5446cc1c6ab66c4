import assert from "node:assert/strict";
import { handle, type HealthDeps } from "../../supabase/functions/health/handler.ts";
import { loadConfig } from "../../supabase/functions/health/config.ts";

const STARTED = Date.parse("2026-11-22T10:00:00Z");

function deps(overrides: Partial<HealthDeps> = {}): HealthDeps {
  return {
    pingDatabase: () => Promise.resolve(),
    dbTimeoutMs: 200,
    now: () => STARTED + 12_345,
    startedAt: STARTED,
    ...overrides,
  };
}

const get = (path: string, method = "GET") => new Request(`http://x${path}`, { method });

Deno.test("handle() reports healthy with the database up", async () => {
  const res = await handle(get("/health"), deps());
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const body = await res.json();
  assert.equal(body.status, "healthy");
  assert.equal(body.timestamp, "2026-11-22T10:00:12.345Z");
  assert.equal(body.uptime, 12.3);
  assert.equal(body.services.database.status, "up");
  assert.equal(typeof body.services.database.latency, "number");
});

Deno.test("handle() answers 503 unhealthy when the database fails, without its error text", async () => {
  const original = console.error;
  console.error = () => {};
  try {
    const res = await handle(
      get("/health"),
      deps({ pingDatabase: () => Promise.reject(new Error("connect ECONNREFUSED 10.0.0.1")) }),
    );
    assert.equal(res.status, 503);
    const text = await res.text();
    assert.ok(!text.includes("ECONNREFUSED"));
    assert.deepEqual(JSON.parse(text).services.database, { status: "down", latency: null });
  } finally {
    console.error = original;
  }
});

Deno.test("handle() gives up on a hanging database after its timeout", async () => {
  const original = console.error;
  console.error = () => {};
  let release = () => {};
  const hanging = new Promise<void>((resolve) => (release = resolve));
  try {
    const started = performance.now();
    const res = await handle(get("/health"), deps({ pingDatabase: () => hanging }));
    const elapsed = performance.now() - started;
    assert.equal(res.status, 503);
    assert.ok(elapsed < 2_000, `answered after ${elapsed} ms`);
  } finally {
    release();
    console.error = original;
  }
});

Deno.test("handle() serves /health/live without touching the database", async () => {
  let pinged = false;
  const res = await handle(
    get("/health/live"),
    deps({
      pingDatabase: () => {
        pinged = true;
        return Promise.resolve();
      },
    }),
  );
  assert.equal(res.status, 200);
  assert.equal((await res.json()).status, "ok");
  assert.equal(pinged, false);
});

Deno.test("handle() refuses other methods and paths with the error envelope", async () => {
  const post = await handle(get("/health", "POST"), deps());
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET");
  assert.equal((await post.json()).code, "method_not_allowed");
  const other = await handle(get("/health/secrets"), deps());
  assert.equal(other.status, 404);
  assert.equal((await other.json()).code, "not_found");
});

Deno.test("loadConfig() stops with the missing variable's name", () => {
  assert.throws(() => loadConfig({}), /Cannot start health: SUPABASE_DB_URL is not set/);
  assert.throws(
    () => loadConfig({ SUPABASE_DB_URL: "postgres://x", HEALTH_DB_TIMEOUT_MS: "soon" }),
    /HEALTH_DB_TIMEOUT_MS must be a non-negative integer/,
  );
  assert.equal(loadConfig({ SUPABASE_DB_URL: "postgres://x" }).dbTimeoutMs, 1_500);
});
