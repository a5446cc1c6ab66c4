/**
 * pg_cron runs inside the stack's Postgres: the job the migration created runs when its time
 * comes. pg_cron 1.4 schedules by the minute, so this test waits up to ~70 s.
 */
import assert from "node:assert/strict";
import { connect, eventually, testStack } from "../_support/stack.ts";

Deno.test("the migration's prune-history job runs under pg_cron", async () => {
  const sql = connect(testStack().dbUrl);
  try {
    const [job] = await sql`
      select jobid, schedule from cron.job where jobname = 'prune-history'`;
    assert.ok(job, "the migration scheduled prune-history");
    // This stack is throwaway: move the daily job to every minute to watch it run.
    await sql`select cron.alter_job(${job.jobid}, schedule := '* * * * *')`;
    try {
      const run = await eventually(
        "a run of prune-history",
        async () => {
          const rows = await sql`
          select status, return_message from cron.job_run_details
           where jobid = ${job.jobid} and status in ('succeeded', 'failed')
           order by runid desc limit 1`;
          return rows[0];
        },
        75_000,
        1_000,
      );
      assert.equal(run.status, "succeeded", String(run.return_message));
    } finally {
      await sql`select cron.alter_job(${job.jobid}, schedule := ${job.schedule})`;
    }
  } finally {
    await sql.end();
  }
});
