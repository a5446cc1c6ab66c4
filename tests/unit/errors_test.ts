import assert from "node:assert/strict";
import {
  errorBody,
  errorResponse,
  internalError,
} from "../../supabase/functions/_shared/errors.ts";

Deno.test("errorBody() keeps the shape clients parse, with extra fields after", () => {
  assert.deepEqual(
    errorBody(429, "rate_limited", "Rate limit exceeded. Max 100 requests per 60s", {
      retryAfter: 60,
    }),
    {
      error: "Too many requests",
      code: "rate_limited",
      message: "Rate limit exceeded. Max 100 requests per 60s",
      retryAfter: 60,
    },
  );
});

Deno.test("errorResponse() answers JSON that is never cached", async () => {
  const res = errorResponse(404, "not_found", "No such thing.");
  assert.equal(res.status, 404);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.deepEqual(await res.json(), {
    error: "Not found",
    code: "not_found",
    message: "No such thing.",
  });
});

Deno.test("internalError() logs the detail and hides it from the caller", async () => {
  const logged: string[] = [];
  const original = console.error;
  console.error = (line: string) => logged.push(line);
  try {
    const res = internalError("queue", new Error("password authentication failed for user x"));
    const text = await res.text();
    assert.equal(res.status, 500);
    assert.ok(!text.includes("password"), "the body must not carry the internal message");
    assert.match(logged.join("\n"), /password authentication failed/);
  } finally {
    console.error = original;
  }
});

Deno.test("internalError() answers 503 with Retry-After when a dependency is unreachable", async () => {
  const lines: string[] = [];
  const original = console.error;
  console.error = (line: string) => lines.push(line);
  try {
    for (const code of ["ECONNREFUSED", "CONNECT_TIMEOUT", "57P01", "08006"]) {
      const res = internalError(
        "queue",
        Object.assign(new Error(`db at 10.0.0.5: ${code}`), { code }),
      );
      assert.equal(res.status, 503, code);
      assert.equal(res.headers.get("retry-after"), "5");
      const body = await res.json();
      assert.equal(body.code, "unavailable");
      assert.ok(!JSON.stringify(body).includes("10.0.0.5"), "the detail stays in the log");
    }
    const bug = internalError("queue", Object.assign(new Error("syntax"), { code: "42601" }));
    assert.equal(bug.status, 500, "a SQL error of ours stays a 500");
    await bug.body?.cancel();
    assert.equal(lines.length, 5);
  } finally {
    console.error = original;
  }
});
