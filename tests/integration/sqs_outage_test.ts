/**
 * Nothing lost: with SQS stopped, enqueues still succeed (the jobs wait in the outbox: the send
 * after each answer fails and is scheduled again); once SQS is back every job is delivered, once.
 */
import assert from "node:assert/strict";
import { connect, control, eventually, first, testStack } from "../_support/stack.ts";
import { drainLanes, serviceHeaders, uniqueCustomer } from "../_support/pipeline.ts";

const stack = testStack();

Deno.test("SQS stopped during enqueues: every job delivered after it returns, none twice", async () => {
  await drainLanes(stack);
  const customer = uniqueCustomer("outage");
  const ids: string[] = [];
  const sql = connect(stack.dbUrl);
  await control("sqs", "stop");
  try {
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${stack.apiUrl}/functions/v1/queue/${customer}`, {
        method: "POST",
        headers: { ...serviceHeaders(stack), "content-type": "application/json" },
        body: JSON.stringify({ package_size: 1, priority_level: 0 }),
      });
      assert.equal(res.status, 202, "enqueue succeeds while SQS is down");
      ids.push((await res.json()).job.id);
    }
    // Each was tried after its answer, refused, and left in the outbox for a later try.
    await eventually("every job to be tried once and wait in the outbox", async () => {
      const waiting = first(
        await sql`
        select count(*)::int as n, min(tries) as min_tries from private.outbox
         where job_id = any(${ids}::uuid[]) and delivered_at is null`,
      );
      assert.equal(waiting.n, 20, "all 20 wait in the outbox");
      return waiting.min_tries >= 1 ? true : undefined;
    }, 15_000);
  } finally {
    await control("sqs", "start");
  }
  try {
    await eventually(
      "every outbox row to be delivered",
      async () => {
        const res = await fetch(`${stack.apiUrl}/functions/v1/dispatch`, {
          method: "POST",
          headers: serviceHeaders(stack),
        });
        await res.body?.cancel();
        const { n } = first(
          await sql`
        select count(*)::int as n from private.outbox
         where job_id = any(${ids}::uuid[]) and delivered_at is null`,
        );
        return n === 0 ? true : undefined;
      },
      30_000,
      500,
    );
  } finally {
    await sql.end();
  }
  const delivered = (await drainLanes(stack))
    .map((body) => JSON.parse(body).job_id)
    .filter((id) => ids.includes(id));
  assert.equal(delivered.length, 20, "every job reached SQS");
  assert.equal(new Set(delivered).size, 20, "none twice");
});
