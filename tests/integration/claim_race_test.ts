/** claim_job under contention: many workers racing for one job, exactly one wins. */
import assert from "node:assert/strict";
import postgres from "postgres";
import { first, testStack } from "../_support/stack.ts";

Deno.test("20 workers racing to claim one job: one lease, one history row", async () => {
  const stack = testStack();
  // As service_role, the way workers connect.
  const sql = postgres(`${stack.dbUrl}?options=-c%20role%3Dservice_role`, {
    max: 20,
    onnotice: () => {},
  });
  try {
    const { job_id } = first(await sql`select (public.enqueue_job('race-claim', 1)).job_id::text`);
    const outcomes = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) =>
          sql`select outcome from public.claim_job(${job_id}, ${`racer-${i}`})`.then((r) =>
            r[0]!.outcome as string
          ),
      ),
    );
    assert.equal(outcomes.filter((o) => o === "claimed").length, 1, outcomes.join());
    assert.ok(outcomes.every((o) => o === "claimed" || o === "leased"));
    const { claims } = first(
      await sql`
      select count(*)::int as claims from public.queue_history
       where job_id = ${job_id} and event = 'claimed'`,
    );
    assert.equal(claims, 1);
    // Its lease would be recovered 90 s later and the job sent into another test's queues.
    await sql`delete from public.jobs where id = ${job_id}`;
  } finally {
    await sql.end();
  }
});
