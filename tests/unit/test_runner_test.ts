import assert from "node:assert/strict";
import { findLeaks } from "../../scripts/stack/secret_scan.ts";
import { fuzzSettings, tallyDeno, tallyTap } from "../../scripts/test.ts";

Deno.test("tallyTap() counts ok and not ok lines, and a crashed file as a failure", () => {
  const tap = "ok 1 - a\nnot ok 2 - b\n# Failed test 2\n    ok 3 - c\n";
  assert.deepEqual(tallyTap(tap, 1), { passed: 2, failed: 1 });
  assert.deepEqual(tallyTap("ok 1 - a\n", 1), { passed: 1, failed: 1 });
  assert.deepEqual(tallyTap("ok 1 - a\n", 0), { passed: 1, failed: 0 });
});

Deno.test("tallyDeno() reads Deno's summary line, with or without steps", () => {
  assert.deepEqual(tallyDeno("ok | 12 passed (3 steps) | 0 failed (2s)", 0), {
    passed: 12,
    failed: 0,
  });
  assert.deepEqual(tallyDeno("FAILED | 4 passed | 2 failed (1s)", 1), { passed: 4, failed: 2 });
  assert.deepEqual(tallyDeno("error: Module not found", 1), { passed: 0, failed: 1 });
});

Deno.test("findLeaks() names each secret found and where", () => {
  const secret = "s3cr3t-0123456789abcdef";
  assert.deepEqual(
    findLeaks(
      [{ where: "functions.log", text: `Bearer ${secret}` }, { where: "a.log", text: "clean" }],
      { SERVICE_ROLE_KEY: secret },
    ),
    [{ where: "functions.log", secret: "SERVICE_ROLE_KEY" }],
  );
  assert.throws(() => findLeaks([], { SHORT: "local" }), /too short/);
});

Deno.test("deno task fuzz: --runs and --seed, with the defaults CI uses", () => {
  assert.equal(fuzzSettings(["--reliability"]), undefined);
  assert.deepEqual(fuzzSettings(["--fuzz"]), { FUZZ_RUNS: "10000", FUZZ_SEED: "20261130" });
  assert.deepEqual(fuzzSettings(["--fuzz", "--runs", "500", "--seed", "7"]), {
    FUZZ_RUNS: "500",
    FUZZ_SEED: "7",
  });
  assert.throws(() => fuzzSettings(["--fuzz", "--runs", "0"]), /--runs must be a positive/);
  assert.throws(() => fuzzSettings(["--fuzz", "--seed"]), /--seed must be a positive/);
});
