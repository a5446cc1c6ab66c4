/**
 * The per-customer cap on jobs in progress (private.settings.max_in_progress_per_customer) on the
 * real stack: concurrent claims never pass it, and a capped customer's backlog, waiting its turn
 * through delayed copies of its messages, all completes with none dead-lettered.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { connect, eventually, first, testStack } from "../_support/stack.ts";
import {
  drainLanes,
  drainQueue,
  serviceHeaders,
  startWorker,
  uniqueCustomer,
} from "../_support/pipeline.ts";
import { queueDepth } from "../../supabase/functions/_shared/sqs.ts";
import { sqsClient } from "../../scripts/stack/sqs_queues.ts";

const stack = testStack();

/** Runs `body` with the cap set, and turns it off again whatever happens. */
async function withCap<T>(cap: number, body: () => Promise<T>): Promise<T> {
  const sql = connect(stack.dbUrl);
  try {
    await sql`update private.settings set max_in_progress_per_customer = ${cap}`;
    return await body();
  } finally {
    await sql`update private.settings set max_in_progress_per_customer = null`;
    await sql.end();
  }
}

Deno.test("15 workers claiming one customer's jobs at once never pass its cap of 3", async () => {
  // As service_role, the way workers connect; 15 connections, so the claims really race.
  const sql = postgres(`${stack.dbUrl}?options=-c%20role%3Dservice_role`, {
    max: 15,
    onnotice: () => {},
  });
  const customer = uniqueCustomer("cap-race");
  try {
    const ids = (await sql`
      select (public.enqueue_job(${customer}, 1)).job_id::text as id
        from generate_series(1, 30)`).map((r) => r.id as string);
    const outcomes = await withCap(3, () =>
      Promise.all(Array.from({ length: 15 }, async (_, i) => {
        const rows = await sql`
          select outcome from public.claim_jobs(${ids.slice(2 * i, 2 * i + 2)}::uuid[],
                                                ${`racer-${i}`})`;
        return rows.map((r) => r.outcome as string);
      })).then((all) => all.flat()));
    assert.equal(outcomes.filter((o) => o === "claimed").length, 3, outcomes.join());
    assert.equal(outcomes.filter((o) => o === "capped").length, 27);
    const { held } = first(
      await sql`
      select count(*)::int as held from public.jobs
       where customer_id = ${customer} and status = 'in_progress'`,
    );
    assert.equal(held, 3);
  } finally {
    // Gone before the scheduled dispatch sends their messages into later tests' queues.
    const admin = connect(stack.dbUrl);
    await admin`delete from public.jobs where customer_id = ${customer}`;
    await admin.end();
    await sql.end();
  }
});

Deno.test("a capped customer's backlog of 300 all completes, none dead-lettered, never over the cap", async () => {
  await drainLanes(stack);
  await drainQueue(stack, stack.sqsDlqUrl);
  const customer = uniqueCustomer("capped");
  const sql = connect(stack.dbUrl);
  // Two workers at their default concurrency of 10, with a 20 ms handler.
  const workers = [1, 2].map(() => startWorker(stack, { HANDLER_DURATION_MS: "20" }));
  try {
    await withCap(2, async () => {
      const res = await fetch(`${stack.apiUrl}/functions/v1/queue/${customer}`, {
        method: "POST",
        headers: { ...serviceHeaders(stack), "content-type": "application/json" },
        body: JSON.stringify({ jobs: Array.from({ length: 300 }, () => ({ package_size: 1 })) }),
      });
      assert.equal(res.status, 202);
      const ids: string[] = (await res.json()).jobs.map((j: { id: string }) => j.id);

      let most = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const [row] = await sql`
            select count(*)::int as n from public.jobs
             where customer_id = ${customer} and status = 'in_progress'`;
          most = Math.max(most, row!.n);
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      try {
        await eventually(
          "all 300 capped jobs to complete",
          async () => {
            const [row] = await sql`
              select count(*)::int as n from public.jobs
               where id = any(${ids}) and status = 'completed'`;
            return row!.n === 300 ? true : undefined;
          },
          120_000,
          250,
        );
      } finally {
        sampling = false;
        await sampler;
      }
      assert.ok(most <= 2, `at most 2 in progress at once, saw ${most}`);
      assert.equal(most, 2, "and the cap was reached");
      const { attempts, completions } = first(
        await sql`
        select (select max(attempts)::int from public.jobs where id = any(${ids})) as attempts,
               (select count(*)::int from public.queue_history
                 where job_id = any(${ids}) and event = 'completed') as completions`,
      );
      assert.equal(attempts, 1, "a capped job is claimed once, when its turn comes");
      assert.equal(completions, 300, "each completed once");
    });
    const sqs = sqsClient(stack.sqsEndpoint);
    try {
      const dlq = await queueDepth(sqs, stack.sqsDlqUrl);
      assert.equal(dlq.visible + dlq.inFlight, 0, "nothing dead-lettered");
    } finally {
      sqs.destroy();
    }
  } finally {
    await sql.end();
    await Promise.all(workers.map((w) => w.stop()));
  }
});
