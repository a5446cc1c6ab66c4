/** The refusal log: counted in the instance, written in one call per flush, nothing raw kept. */
import assert from "node:assert/strict";
import { sha256Hex } from "../../supabase/functions/_shared/auth.ts";
import {
  refusalLog,
  type RefusalRow,
} from "../../supabase/functions/_shared/ratelimit/refusals.ts";

function setup(write: (rows: RefusalRow[]) => Promise<void>, maxClients = 100) {
  const kept: Promise<unknown>[] = [];
  const logged: string[] = [];
  let t = Date.parse("2026-11-30T10:00:30Z");
  const log = refusalLog({
    fn: "queue",
    write,
    keepAlive: (work) => kept.push(work),
    flushMs: 5,
    maxClients,
    now: () => t,
    log: (line) => logged.push(line),
  });
  return { log, kept, logged, later: () => (t += 60_000) };
}

Deno.test("refusalLog() counts per minute, policy and client, and writes once per flush", async () => {
  const writes: RefusalRow[][] = [];
  const { log, kept } = setup((rows) => {
    writes.push(rows);
    return Promise.resolve();
  });
  for (let i = 0; i < 50; i++) log.refused({ policy: "standard", client: "ip:203.0.113.9" });
  log.refused({ policy: "apiKey", client: `key:${"ab".repeat(32)}`, customerId: "acme" });
  log.refused({ policy: "jobs", client: "customer:acme", customerId: "acme" });
  assert.equal(kept.length, 1, "one flush pending, kept alive as work after the answer");
  await Promise.all(kept);
  assert.equal(writes.length, 1, "one write for 52 refusals");
  const rows = writes[0]!;
  assert.deepEqual(rows.map((r) => [r.policy, r.client_kind, r.refused, r.customer_id]), [
    ["standard", "ip", 50, null],
    ["apiKey", "key", 1, "acme"],
    ["jobs", "customer", 1, "acme"],
  ]);
  assert.equal(rows[0]!.client_hash, sha256Hex("ip:203.0.113.9"));
  assert.equal(rows[1]!.client_hash, "ab".repeat(32), "an API key keeps the hash api_keys holds");
  assert.equal(rows[0]!.minute, "2026-11-30T10:00:00.000Z");
  assert.ok(!JSON.stringify(rows).includes("203.0.113.9"), "no raw address is written");
});

Deno.test("refusalLog(): a failed write keeps the counts for the next flush", async () => {
  let fail = true;
  const writes: RefusalRow[][] = [];
  const { log, kept, logged } = setup((rows) => {
    if (fail) return Promise.reject(new Error("connection refused"));
    writes.push(rows);
    return Promise.resolve();
  });
  log.refused({ policy: "standard", client: "user:u1" });
  log.refused({ policy: "standard", client: "user:u1" });
  await kept[0];
  assert.match(logged[0]!, /could not record rate-limit refusals: connection refused/);
  fail = false;
  log.refused({ policy: "standard", client: "user:u1" });
  await Promise.all(kept);
  await Promise.all(kept);
  assert.deepEqual(writes.flat().map((r) => r.refused), [3], "all three, once");
});

Deno.test("refusalLog(): distinct clients per flush are capped, and the overflow is logged", async () => {
  const writes: RefusalRow[][] = [];
  const { log, kept, logged } = setup((rows) => {
    writes.push(rows);
    return Promise.resolve();
  }, 2);
  for (const ip of ["a", "b", "c", "d"]) log.refused({ policy: "standard", client: `ip:${ip}` });
  await Promise.all(kept);
  assert.equal(writes[0]!.length, 2);
  assert.match(logged[0]!, /2 refusals over the per-flush cap/);
});

Deno.test("refusalLog(): a batch that keeps failing is given up after 3 flushes; customer ids are cut to 128", async () => {
  const tried: RefusalRow[][] = [];
  const { log, kept, logged } = setup((rows) => {
    tried.push(rows);
    return Promise.reject(new Error("function private.record_refusals does not exist"));
  });
  log.refused({ policy: "standard", client: "user:u1", customerId: "c".repeat(300) });
  for (let i = 0; i < 4; i++) await Promise.all(kept);
  assert.equal(tried.length, 3, "three tries, then no more");
  assert.equal(tried[0]![0]!.customer_id!.length, 128);
  assert.match(logged.at(-1)!, /gave up recording 1 rate-limit refusal rows/);
  assert.equal(kept.length, 3, "nothing keeps the instance alive after that");
});
