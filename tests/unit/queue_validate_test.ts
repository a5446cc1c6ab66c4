import assert from "node:assert/strict";
import {
  checkCustomerId,
  checkEnqueueBody,
  checkIdempotencyKey,
} from "../../supabase/functions/queue/validate.ts";

Deno.test("checkCustomerId() accepts ids like the old system's and refuses the rest", () => {
  for (const ok of ["acme", "cust-42", "a.b_c:d", "x".repeat(128), "demo%2Dcustomer"]) {
    assert.equal(checkCustomerId(ok).ok, true, ok);
  }
  for (const bad of ["", "-lead", "a b", "x".repeat(129), "a'or'1'='1", "%E0%A4%A", "ünï"]) {
    assert.equal(checkCustomerId(bad).ok, false, bad);
  }
});

Deno.test("checkIdempotencyKey() takes 1-255 visible ASCII characters, or none", () => {
  assert.deepEqual(checkIdempotencyKey(null), { ok: true, value: null });
  assert.equal(checkIdempotencyKey("order-123").ok, true);
  assert.equal(checkIdempotencyKey("").ok, false);
  assert.equal(checkIdempotencyKey("has space").ok, false);
  assert.equal(checkIdempotencyKey("k".repeat(256)).ok, false);
});

Deno.test("checkEnqueueBody() accepts the documented fields", () => {
  assert.deepEqual(checkEnqueueBody({ package_size: 50, priority_level: 2 }), {
    ok: true,
    value: { package_size: 50, priority_level: 2, payload: {} },
  });
  assert.deepEqual(
    checkEnqueueBody({ package_size: 1, priority_level: 0, payload: { url: "https://x" } }),
    { ok: true, value: { package_size: 1, priority_level: 0, payload: { url: "https://x" } } },
  );
});

Deno.test("checkEnqueueBody() leaves tier names to the database, and a missing one to its default", () => {
  assert.deepEqual(checkEnqueueBody({ package_size: 1, priority_level: "Starter" }), {
    ok: true,
    value: { package_size: 1, priority_level: "Starter", payload: {} },
  });
  const none = checkEnqueueBody({ package_size: 1 });
  assert.deepEqual(none, { ok: true, value: { package_size: 1, payload: {} } });
  assert.ok(none.ok && !("priority_level" in none.value), "no priority_level: the default tier");
});

Deno.test("checkEnqueueBody() names the field at fault", () => {
  const cases: [unknown, string | undefined][] = [
    [[], undefined],
    ["text", undefined],
    [null, undefined],
    [{ priority_level: 1 }, "package_size"],
    [{ package_size: 1, priority_level: "" }, "priority_level"],
    [{ package_size: 1, priority_level: "t".repeat(33) }, "priority_level"],
    [{ package_size: 1, priority_level: null }, "priority_level"],
    [{ package_size: 1, priority_level: true }, "priority_level"],
    [{ package_size: 1, priority_level: 2.5 }, "priority_level"],
    [{ package_size: "10", priority_level: 1 }, "package_size"],
    [{ package_size: 1.5, priority_level: 1 }, "package_size"],
    [{ package_size: 0, priority_level: 1 }, "package_size"],
    [{ package_size: 10_001, priority_level: 1 }, "package_size"],
    [{ package_size: 1, priority_level: 11 }, "priority_level"],
    [{ package_size: 1, priority_level: -1 }, "priority_level"],
    [{ package_size: 1, priority_level: 1, payload: [1] }, "payload"],
    [{ package_size: 1, priority_level: 1, payload: "x" }, "payload"],
    [{ package_size: 1, priority_level: 1, status: "completed" }, "status"],
  ];
  for (const [body, field] of cases) {
    const result = checkEnqueueBody(body);
    assert.equal(result.ok, false, JSON.stringify(body));
    if (!result.ok) assert.equal(result.field, field, JSON.stringify(body));
  }
});
