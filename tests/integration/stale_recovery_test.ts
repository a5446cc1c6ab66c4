/**
 * Stale-job recovery end to end: a worker SIGKILLed mid-job; its job is recovered, sent to SQS
 * again and completed exactly once by another worker; the dead worker's lease stays dead.
 * Plus: overlapping sweeps recover each job once.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { connect, eventually, first, testStack } from "../_support/stack.ts";
import { drainLanes, serviceHeaders, startWorker, uniqueCustomer } from "../_support/pipeline.ts";

const stack = testStack();

async function withSettings<T>(
  settings: { stale_threshold_seconds: number },
  fn: (sql: postgres.Sql) => Promise<T>,
): Promise<T> {
  const sql = connect(stack.dbUrl);
  const saved = first(await sql`select stale_threshold_seconds from private.settings`);
  await sql`update private.settings set stale_threshold_seconds = ${settings.stale_threshold_seconds}`;
  try {
    return await fn(sql);
  } finally {
    await sql`update private.settings set stale_threshold_seconds = ${saved.stale_threshold_seconds}`;
    await sql.end();
  }
}

Deno.test("a SIGKILLed worker's job is recovered, re-sent and completed exactly once", async () => {
  await drainLanes(stack);
  await withSettings({ stale_threshold_seconds: 5 }, async (sql) => {
    // The doomed worker: a long job, so it is mid-job when killed.
    const doomed = startWorker(stack, {
      HANDLER_DURATION_MS: "60000",
      VISIBILITY_TIMEOUT_SECONDS: "3",
    });
    let rescuer: ReturnType<typeof startWorker> | undefined;
    try {
      const res = await fetch(`${stack.apiUrl}/functions/v1/queue/${uniqueCustomer("kill")}`, {
        method: "POST",
        headers: { ...serviceHeaders(stack), "content-type": "application/json" },
        body: JSON.stringify({ package_size: 1, priority_level: 0 }),
      });
      const id = (await res.json()).job.id as string;
      const held = await eventually("the job to be claimed", async () => {
        const [row] = await sql`
          select lease_token::text as lease, leased_by from public.jobs
           where id = ${id} and status = 'in_progress'`;
        return row;
      });
      assert.equal(held.leased_by, doomed.id);
      await doomed.stop("SIGKILL");

      // Nobody heartbeats now: after the threshold the sweep takes the job back. pg_cron runs
      // it every minute; the test runs it as soon as the job is stale rather than wait.
      await eventually(
        "the job to go stale",
        async () => {
          const rows = await sql`select 1 from public.find_stale_jobs() where job_id = ${id}`;
          return rows.length ? true : undefined;
        },
        15_000,
        250,
      );
      await sql`select * from public.recover_stale_jobs()`;
      const recovered = first(
        await sql`
        select status, error_message from public.jobs where id = ${id}`,
      );
      // pg_cron may have recovered it a moment earlier: either way it is pending, or already
      // claimed by nobody (no worker is running yet).
      assert.equal(recovered.status, "pending");
      assert.equal(recovered.error_message, "Recovered from stale state (no worker heartbeat)");

      // The dead worker's lease is refused, however late it calls.
      const late = postgres(`${stack.dbUrl}?options=-c%20role%3Dservice_role`, { max: 1 });
      try {
        const beat = first(
          await late`
          select public.heartbeat(${doomed.id}, ${id}, ${held.lease}) as holds`,
        );
        assert.equal(beat.holds, false, "late heartbeat refused");
        const done = first(
          await late`
          select public.complete_job(${id}, ${held.lease}, '{}') as done`,
        );
        assert.equal(done.done, false, "late complete_job refused");
      } finally {
        await late.end();
      }

      rescuer = startWorker(stack);
      await eventually("another worker to complete it", async () => {
        const row = first(await sql`select status from public.jobs where id = ${id}`);
        return row.status === "completed" ? true : undefined;
      }, 20_000);
      const events = await sql`
        select event, worker_id from public.queue_history where job_id = ${id} order by id`;
      assert.deepEqual(events.map((e) => `${e.event}:${e.worker_id ?? ""}`), [
        "enqueued:",
        `claimed:${doomed.id}`,
        `recovered:${doomed.id}`,
        `claimed:${rescuer.id}`,
        `completed:${rescuer.id}`,
      ]);
      // Both the dead worker's message (visible again) and the recovery's message reach the
      // rescuer; the second finds the job finished and is acknowledged, not run.
      await eventually(
        "the duplicate message to be acknowledged",
        async () => (await drainLanes(stack)).length === 0 ? true : undefined,
        10_000,
      );
      const { completions } = first(
        await sql`
        select count(*)::int as completions from public.queue_history
         where job_id = ${id} and event = 'completed'`,
      );
      assert.equal(completions, 1, "completed exactly once");
    } finally {
      await doomed.stop("SIGKILL");
      await rescuer?.stop();
    }
  });
});

Deno.test("two overlapping sweeps recover each stale job once", async () => {
  await withSettings({ stale_threshold_seconds: 60 }, async (sql) => {
    const customer = uniqueCustomer("overlap");
    const ids = (await sql`
      insert into public.jobs (customer_id, package_size, status, attempts, lease_token,
                               leased_by, leased_at, heartbeat_at)
      select ${customer}, 1, 'in_progress', 1, gen_random_uuid(), 'gone', now() - interval '1 hour',
             now() - interval '1 hour'
        from generate_series(1, 200)
      returning id::text`).map((r) => r.id as string);
    const a = connect(stack.dbUrl);
    const b = connect(stack.dbUrl);
    try {
      // pg_cron may run a sweep of its own meanwhile; the totals below cover all of them.
      await Promise.all([
        a`select * from public.recover_stale_jobs()`,
        b`select * from public.recover_stale_jobs()`,
      ]);
    } finally {
      await a.end();
      await b.end();
    }
    const { recoveries, jobs } = first(
      await sql`
      select count(*)::int as recoveries, count(distinct job_id)::int as jobs
        from public.queue_history where job_id = any(${ids}::uuid[]) and event = 'recovered'`,
    );
    assert.equal(jobs, 200, "every stale job was recovered");
    assert.equal(recoveries, 200, "and each exactly once");
    const { resends } = first(
      await sql`
      select count(*)::int as resends from private.outbox where job_id = any(${ids}::uuid[])`,
    );
    assert.equal(resends, 200, "one message each");
    await sql`delete from public.jobs where customer_id = ${customer}`;
  });
});
