/**
 * Jobs through the whole pipeline on the real stack: HTTP enqueue → outbox → SQS → reference
 * worker process → completed, and the worker's behaviour on failure, shutdown and lost leases.
 */
import assert from "node:assert/strict";
import { connect, eventually, first, testStack } from "../_support/stack.ts";
import { drainLanes, serviceHeaders, startWorker, uniqueCustomer } from "../_support/pipeline.ts";

const stack = testStack();

async function enqueue(customer: string): Promise<string> {
  const res = await fetch(`${stack.apiUrl}/functions/v1/queue/${customer}`, {
    method: "POST",
    headers: { ...serviceHeaders(stack), "content-type": "application/json" },
    body: JSON.stringify({ package_size: 2, priority_level: 0 }),
  });
  assert.equal(res.status, 202);
  return (await res.json()).job.id;
}

async function job(id: string) {
  const sql = connect(stack.dbUrl);
  try {
    return first(
      await sql`
      select status, attempts, leased_by, error_message from public.jobs where id = ${id}`,
    );
  } finally {
    await sql.end();
  }
}

async function history(id: string): Promise<string[]> {
  const sql = connect(stack.dbUrl);
  try {
    const rows = await sql`
      select event, worker_id from public.queue_history where job_id = ${id} order by id`;
    return rows.map((r) => r.worker_id ? `${r.event}:${r.worker_id}` : r.event);
  } finally {
    await sql.end();
  }
}

function waitForStatus(id: string, status: string, timeoutMs = 20_000) {
  return eventually(
    `job ${id} to be ${status}`,
    async () => {
      const row = await job(id);
      return row.status === status ? row : undefined;
    },
    timeoutMs,
    100,
  );
}

Deno.test("a job enqueued over HTTP is claimed and completed by a worker", async () => {
  await drainLanes(stack);
  const worker = startWorker(stack);
  try {
    const id = await enqueue(uniqueCustomer("pipe"));
    const done = await waitForStatus(id, "completed");
    assert.equal(done.attempts, 1);
    assert.deepEqual(await history(id), [
      "enqueued",
      `claimed:${worker.id}`,
      `completed:${worker.id}`,
    ]);
  } finally {
    assert.equal((await worker.stop()).code, 0);
  }
});

Deno.test("SIGTERM mid-job releases the job and another worker completes it", async () => {
  await drainLanes(stack);
  const slow = startWorker(stack, { HANDLER_DURATION_MS: "60000", SHUTDOWN_GRACE_SECONDS: "0.2" });
  let fast: ReturnType<typeof startWorker> | undefined;
  try {
    const id = await enqueue(uniqueCustomer("term"));
    await waitForStatus(id, "in_progress");
    assert.equal((await slow.stop("SIGTERM")).code, 0, "the worker exits cleanly");
    const released = await job(id);
    assert.equal(released.status, "pending", "released, not left in progress");
    fast = startWorker(stack);
    await waitForStatus(id, "completed").catch((error) => {
      throw new Error(
        `${error.message}\nslow: ${slow.output.join("")}\nfast: ${fast?.output.join("")}`,
      );
    });
    assert.deepEqual(await history(id), [
      "enqueued",
      `claimed:${slow.id}`,
      `released:${slow.id}`,
      `claimed:${fast.id}`,
      `completed:${fast.id}`,
    ]);
  } finally {
    await slow.stop();
    await fast?.stop();
  }
});

Deno.test("a failing job is retried with backoff until max_attempts, then failed", async () => {
  await drainLanes(stack);
  const sql = connect(stack.dbUrl);
  const [saved] = await sql`select max_attempts, retry_base_seconds from private.settings`;
  await sql`update private.settings set max_attempts = 2, retry_base_seconds = 1`;
  const worker = startWorker(stack, { HANDLER_FAILURE_RATE: "1" });
  try {
    const id = await enqueue(uniqueCustomer("fail"));
    const failed = await waitForStatus(id, "failed");
    assert.equal(failed.attempts, 2);
    assert.match(failed.error_message, /simulated failure/);
    assert.deepEqual((await history(id)).map((e) => e.split(":")[0]), [
      "enqueued",
      "claimed",
      "retry_scheduled",
      "claimed",
      "failed",
    ]);
    // The message was deleted once the job failed for good: nothing is left to redeliver.
    await eventually("the queue to be empty", async () => {
      return (await drainLanes(stack)).length === 0 ? true : undefined;
    });
  } finally {
    await worker.stop();
    await sql`update private.settings set max_attempts = ${saved!.max_attempts},
                                          retry_base_seconds = ${saved!.retry_base_seconds}`;
    await sql.end();
  }
});

Deno.test("a worker whose lease is revoked stops its handler and cannot complete", async () => {
  await drainLanes(stack);
  const worker = startWorker(stack, { HANDLER_DURATION_MS: "60000" });
  const sql = connect(stack.dbUrl);
  try {
    const id = await enqueue(uniqueCustomer("fence"));
    await waitForStatus(id, "in_progress");
    // What stale-job recovery does: revoke the lease and put the job back.
    await sql`
      update public.jobs set status = 'pending', lease_token = null, leased_by = null,
                             leased_at = null, heartbeat_at = null
       where id = ${id}`;
    await eventually(
      "the worker to notice",
      () => Promise.resolve(worker.output.join("").includes("lease lost") ? true : undefined),
    );
    const after = await job(id);
    assert.equal(after.status, "pending", "the worker did not complete a job it no longer holds");
  } finally {
    await sql.end();
    await worker.stop();
  }
});

Deno.test("one worker runs its default 10 jobs side by side, and GET shows their progress", async () => {
  await drainLanes(stack);
  // 3 steps of 1 s each (package_size 3): long enough to see all ten in flight at once.
  const worker = startWorker(stack, { HANDLER_DURATION_MS: "3000" });
  const sql = connect(stack.dbUrl);
  const customer = uniqueCustomer("conc");
  try {
    const res = await fetch(`${stack.apiUrl}/functions/v1/queue/${customer}`, {
      method: "POST",
      headers: { ...serviceHeaders(stack), "content-type": "application/json" },
      body: JSON.stringify({
        jobs: Array.from(
          { length: 12 },
          (_, i) => ({ package_size: 3, priority_level: 0, payload: { i } }),
        ),
      }),
    });
    assert.equal(res.status, 202);
    const ids: string[] = (await res.json()).jobs.map((j: { id: string }) => j.id);

    // Every 20 ms until all 12 are done: the most jobs the worker held at once, from its leases.
    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [row] = await sql`
          select jobs_held from public.workers_view where worker_id = ${worker.id}`;
        most = Math.max(most, row?.jobs_held ?? 0);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const shown = await eventually(
      "GET to show progress",
      async () => {
        const listed = await fetch(`${stack.apiUrl}/functions/v1/queue/${customer}`, {
          headers: serviceHeaders(stack),
        });
        const body = await listed.json();
        return body.jobs.find((j: { progress: { done: number } | null }) =>
          (j.progress?.done ?? 0) >= 1
        );
      },
      10_000,
      100,
    );
    assert.equal(shown.progress.total, 3);
    assert.equal(shown.progress.attempt, 1);
    assert.match(shown.progress.note, /^directory \d of 3$/);

    await eventually(
      "all 12 jobs to complete",
      async () => {
        const [row] = await sql`
        select count(*)::int as n from public.jobs where id = any(${ids}) and status = 'completed'`;
        return row!.n === 12 ? true : undefined;
      },
      30_000,
      200,
    );
    sampling = false;
    await sampler;
    assert.equal(most, 10, "10 jobs at once, never more than its concurrency");
    const [once] = await sql`
      select count(*)::int as n from public.queue_history
       where job_id = any(${ids}) and event = 'completed'`;
    assert.equal(once!.n, 12, "exactly one completed row per job");
  } finally {
    await sql.end();
    await worker.stop();
  }
});

Deno.test("a job that runs past its timeout is aborted and retried", async () => {
  await drainLanes(stack);
  // The timeout under test is shortened from its 30 minutes; the handler would take a minute.
  const worker = startWorker(stack, { HANDLER_DURATION_MS: "60000", JOB_TIMEOUT_SECONDS: "1" });
  const sql = connect(stack.dbUrl);
  try {
    const id = await enqueue(uniqueCustomer("timeout"));
    const retried = await eventually(
      "the attempt to fail",
      async () => {
        const [row] = await sql`
        select reason from public.queue_history where job_id = ${id} and event = 'retry_scheduled'`;
        return row;
      },
      15_000,
      100,
    );
    assert.equal(retried.reason, "Timed out after 1 s");
    const after = await job(id);
    assert.equal(after.status, "pending", "pending again, for its retry");
    assert.equal(after.error_message, "Timed out after 1 s");
  } finally {
    await sql.end();
    await worker.stop();
  }
});
