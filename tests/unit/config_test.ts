/** _shared/config.ts: the typed env readers every function and the worker parse config with. */
import assert from "node:assert/strict";
import { intEnv, numberEnv, requireEnv } from "../../supabase/functions/_shared/config.ts";

Deno.test("requireEnv() trims the value and names the function and variable when it is unset", () => {
  assert.equal(requireEnv({ A: " x " }, "fn", "A"), "x");
  assert.throws(() => requireEnv({ A: "  " }, "fn", "A"), /^Error: Cannot start fn: A is not set$/);
});

Deno.test("intEnv() takes a non-negative integer, or the fallback when unset", () => {
  assert.equal(intEnv({}, "fn", "N", 7), 7);
  assert.equal(intEnv({ N: " 0 " }, "fn", "N", 7), 0);
  for (const raw of ["-1", "1.5", "soon"]) {
    assert.throws(
      () => intEnv({ N: raw }, "fn", "N", 7),
      new RegExp(`^Error: Cannot start fn: N must be a non-negative integer, got '${raw}'$`),
    );
  }
});

Deno.test("numberEnv() takes a number within its range, ends included, or the fallback", () => {
  const range = { min: 0.1, max: 300 };
  assert.equal(numberEnv({}, "worker", "S", 15, range), 15);
  assert.equal(numberEnv({ S: "0.1" }, "worker", "S", 15, range), 0.1);
  assert.equal(numberEnv({ S: "300" }, "worker", "S", 15, range), 300);
  for (const raw of ["0", "300.5", "Infinity", "soon"]) {
    assert.throws(
      () => numberEnv({ S: raw }, "worker", "S", 15, range),
      new RegExp(`^Error: Cannot start worker: S must be a number from 0.1 to 300, got '${raw}'$`),
    );
  }
});
