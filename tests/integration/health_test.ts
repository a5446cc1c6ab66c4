/** The health function through the real gateway and database. */
import assert from "node:assert/strict";
import { testStack } from "../_support/stack.ts";

Deno.test("GET /functions/v1/health needs no key and reports the database up", async () => {
  const stack = testStack();
  const res = await fetch(`${stack.apiUrl}/functions/v1/health`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const body = await res.json();
  assert.equal(body.status, "healthy");
  assert.equal(body.services.database.status, "up");
  assert.ok(Number.isFinite(Date.parse(body.timestamp)));
});

Deno.test("GET /functions/v1/health/live answers from the process alone", async () => {
  const stack = testStack();
  const res = await fetch(`${stack.apiUrl}/functions/v1/health/live`);
  assert.equal(res.status, 200);
  assert.equal((await res.json()).status, "ok");
});
