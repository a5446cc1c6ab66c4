/** queue/config.ts: every setting the queue function reads, parsed once by loadConfig(). */
import assert from "node:assert/strict";
import { loadConfig } from "../../supabase/functions/queue/config.ts";

const ENV = {
  SUPABASE_DB_URL: "postgres://x",
  SUPABASE_SERVICE_ROLE_KEY: "service",
  SUPABASE_URL: "https://ref.supabase.co",
  SQS_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs",
};

Deno.test("loadConfig() parses the JWT and rate-limit settings too, and keeps no raw env", () => {
  const config = loadConfig({
    ...ENV,
    RATE_LIMIT_QUEUE: "strict,apiKey",
    RATE_LIMIT_CLIENT_IP: "header:cf-connecting-ip",
    RATE_LIMIT_TIMEOUT_MS: "150",
  });
  assert.deepEqual(config.jwt, {
    jwksUrl: "https://ref.supabase.co/auth/v1/.well-known/jwks.json",
  });
  assert.equal(config.rateLimit.fn, "queue");
  assert.deepEqual(config.rateLimit.policies.map((p) => p.name), ["strict", "apiKey"]);
  assert.deepEqual(config.rateLimit.clientIp, { kind: "header", name: "cf-connecting-ip" });
  assert.equal(config.rateLimit.timeoutMs, 150);
  assert.equal(config.rateLimit.memoryKeys, 10_000);
  assert.ok(!("env" in config));
});

Deno.test("loadConfig() stops with the message of the setting at fault", () => {
  assert.throws(
    () => loadConfig({ ...ENV, SUPABASE_URL: "" }),
    /^Error: Cannot start queue: set JWT_SECRET or SUPABASE_URL$/,
  );
  assert.throws(
    () => loadConfig({ ...ENV, RATE_LIMIT_QUEUE: "lenient" }),
    /Cannot start queue: RATE_LIMIT_QUEUE names unknown policy 'lenient'/,
  );
  assert.throws(
    () => loadConfig({ ...ENV, RATE_LIMIT_MEMORY_KEYS: "many" }),
    /Cannot start queue: RATE_LIMIT_MEMORY_KEYS must be a non-negative integer, got 'many'/,
  );
});

Deno.test("loadConfig(): bulk limits, the send reservation, the API-key cache and the jobs policy", () => {
  const defaults = loadConfig(ENV);
  assert.deepEqual(defaults.limits, {
    maxBodyBytes: 65_536,
    maxBulkBodyBytes: 1_048_576,
    maxBulkJobs: 500,
  });
  assert.equal(defaults.reserveSeconds, 15);
  assert.equal(defaults.sendWindowMs, 10_000, "15 s less two 2 s tries and a second");
  assert.equal(defaults.apiKeyCacheMs, 5_000);
  assert.deepEqual(
    [defaults.jobsPolicy?.name, defaults.jobsPolicy?.limit, defaults.jobsPolicy?.periodSeconds],
    ["jobs", 10_000, 3600],
  );
  const tuned = loadConfig({
    ...ENV,
    QUEUE_MAX_BULK_JOBS: "100",
    API_KEY_CACHE_SECONDS: "0",
    RATE_LIMIT_JOBS: "500/60",
  });
  assert.equal(tuned.limits.maxBulkJobs, 100);
  assert.equal(tuned.apiKeyCacheMs, 0);
  assert.equal(tuned.jobsPolicy?.limit, 500);
  assert.equal(tuned.jobsPolicy?.periodSeconds, 60);
  assert.equal(loadConfig({ ...ENV, RATE_LIMIT_JOBS: "off" }).jobsPolicy, undefined);
  assert.throws(
    () => loadConfig({ ...ENV, RATE_LIMIT_JOBS: "lots" }),
    /Cannot start queue: RATE_LIMIT_JOBS must look like 100\/60/,
  );
  assert.equal(
    loadConfig({ ...ENV, RATE_LIMIT_JOBS: "500/60" }).jobsPolicy?.limit,
    500,
    "a bulk fits",
  );
  assert.throws(
    () => loadConfig({ ...ENV, QUEUE_SEND_RESERVE_SECONDS: "5" }),
    /QUEUE_SEND_RESERVE_SECONDS=5 leaves no time to send: it must be over 2 x QUEUE_DISPATCH_TIMEOUT_MS \(2000 ms\) \+ 1 s/,
  );
  assert.throws(() => loadConfig({ ...ENV, QUEUE_MAX_BULK_JOBS: "0" }), /at least 1/);
  assert.throws(
    () => loadConfig({ ...ENV, RATE_LIMIT_JOBS: "100/60" }),
    /RATE_LIMIT_JOBS allows 100 jobs, fewer than one bulk request of QUEUE_MAX_BULK_JOBS=500/,
  );
});
