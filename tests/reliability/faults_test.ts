/**
 * Faults, each with its "nothing lost" check: Postgres restarted under load, Postgres and the SQS
 * emulator each stopped for 5 s while workers at their default concurrency (10) are busy, workers
 * SIGKILLed at random while 600 jobs run, the pg_net stand-in dropping the scheduler's
 * requests, and Postgres stopped in the middle of a DLQ monitor's walk over 6,000 dead letters.
 */
import assert from "node:assert/strict";
import { connect, control, eventually, testStack } from "../_support/stack.ts";
import {
  assertAllStored,
  drainLanes,
  drainQueue,
  serviceHeaders,
  startWorker,
  uniqueCustomer,
  type WorkerProcess,
} from "../_support/pipeline.ts";
import { percentiles, report } from "../_support/report.ts";
import { seedDeadLetters } from "../_support/dead_letters.ts";
import { sqsClient } from "../../scripts/stack/sqs_queues.ts";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";

const stack = testStack();

async function enqueue(customer: string): Promise<{ status: number; ms: number; body: string }> {
  const t = performance.now();
  const res = await fetch(`${stack.apiUrl}/functions/v1/queue/${customer}`, {
    method: "POST",
    headers: { ...serviceHeaders(stack), "content-type": "application/json" },
    body: JSON.stringify({ package_size: 1, priority_level: 0 }),
  });
  const body = await res.text();
  return { status: res.status, ms: performance.now() - t, body };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stops a service of the stack for `ms`, then starts it again (whatever happens meanwhile). */
async function stopFor(service: string, ms: number): Promise<void> {
  await control(service, "stop");
  try {
    await sleep(ms);
  } finally {
    await control(service, "start");
  }
}

Deno.test("Postgres restarted mid-load: fast 503 JSON errors, recovery by itself, no accepted job lost", async () => {
  const customer = uniqueCustomer("pg-restart");
  const accepted: string[] = [];
  const during: number[] = [];
  const statuses = new Map<number, number>();
  const unexpected: string[] = [];
  let phase: "before" | "down" | "after" = "before";
  let stop = false;
  let afterOk = 0;
  const load = Promise.all(Array.from({ length: 8 }, async () => {
    while (!stop) {
      const r = await enqueue(customer);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status === 202) {
        accepted.push(JSON.parse(r.body).job.id);
        if (phase === "after") afterOk++;
        continue;
      }
      // Anything but a 503 JSON error without internal detail is a failure, kept for the end.
      let keys = "";
      try {
        keys = Object.keys(JSON.parse(r.body)).sort().join(",");
      } catch {
        // Not JSON.
      }
      if (
        r.status !== 503 || keys !== "code,error,message" || /ECONN|postgres|\.ts:/i.test(r.body)
      ) {
        unexpected.push(`${r.status} ${r.body.slice(0, 200)}`);
      }
      if (phase === "down") during.push(r.ms);
    }
  }));
  let recoverySeconds = NaN;
  try {
    await sleep(2_000);
    phase = "down";
    await control("postgres", "stop");
    await sleep(3_000);
  } finally {
    await control("postgres", "start");
  }
  const restarted = performance.now();
  phase = "after";
  try {
    await eventually(
      "requests to succeed again",
      () => Promise.resolve(afterOk >= 20 ? true : undefined),
      30_000,
    );
    recoverySeconds = (performance.now() - restarted) / 1000;
  } finally {
    stop = true;
    await load;
  }
  assert.deepEqual(unexpected.slice(0, 5), [], `${unexpected.length} unexpected answers`);
  assert.ok(during.length > 0, "requests were refused while Postgres was down");
  await assertAllStored(stack, accepted);
  report({
    scenario: "Postgres restarted mid-load",
    claim:
      "8 clients enqueue without pause; Postgres is stopped for 3 s and started again. Every answer is a 202 or a 503 JSON error with no internal detail; the functions recover without a restart; every accepted job is in the database.",
    figures: {
      "answers": [...statuses].sort().map(([s, n]) => `${s}: ${n}`).join(", "),
      "503 latency while down": percentiles(during),
      "first successes after restart": `${recoverySeconds.toFixed(1)} s to 20 accepted enqueues`,
      "jobs accepted / found in the database": `${accepted.length} / ${accepted.length}`,
    },
  });
});

/**
 * What every worker fault must leave: each job completed, with exactly one `completed` row, none
 * dead-lettered, and no lease left. Copies of their messages in jobs-dlq are counted; a fault
 * that kills workers may leave some (SQS moves a message after 3 receives, and every worker that
 * dies holding it spent one), an outage must not (`dlqCopies: "none"`).
 */
async function assertSettledOnce(
  sql: ReturnType<typeof connect>,
  ids: string[],
  dlqCopies: "none" | "counted",
): Promise<
  { completions: number; recovered: number; reclaimed: number; dead: number; inDlq: number }
> {
  const [check] = await sql<
    [{ completions: number; over: number; dead: number; recovered: number; reclaimed: number }]
  >`
    select count(*) filter (where h.event = 'completed')::int as completions,
           (select count(*)::int from (
              select h2.job_id from public.queue_history h2
               where h2.job_id = any(${ids}) and h2.event = 'completed'
               group by h2.job_id having count(*) <> 1) x) as over,
           count(*) filter (where h.event = 'dead_lettered')::int as dead,
           count(*) filter (where h.event = 'recovered')::int as recovered,
           (select count(*)::int from (
              select h3.job_id from public.queue_history h3
               where h3.job_id = any(${ids}) and h3.event = 'claimed'
               group by h3.job_id having count(*) > 1) y) as reclaimed
      from public.queue_history h where h.job_id = any(${ids})`;
  assert.equal(check.over, 0, "no job completed twice, none without a completion");
  assert.equal(check.completions, ids.length);
  assert.equal(check.dead, 0, "none dead-lettered");
  const dlq = (await drainQueue(stack, stack.sqsDlqUrl))
    .filter((b) => ids.includes(JSON.parse(b).job_id));
  if (dlqCopies === "none") assert.deepEqual(dlq, [], "nothing of theirs in jobs-dlq");
  const [leases] = await sql<[{ held: number; named: number }]>`
    select (select count(*)::int from public.jobs
             where id = any(${ids}) and status = 'in_progress') as held,
           (select count(*)::int from public.worker_heartbeats
             where current_job_id = any(${ids})) as named`;
  assert.deepEqual(leases, { held: 0, named: 0 }, "no lease left dangling");
  return { ...check, inDlq: dlq.length };
}

/**
 * Two workers at their default concurrency work through 400 jobs; `fault` strikes once 50 are done.
 * Afterwards every job is completed with exactly one `completed` row, none was dead-lettered, and
 * no lease is left. The stale threshold (15 s, above the 5 s outages) and a sweep every second
 * only set the pace: a claim whose answer an outage cut off leaves a lease nobody works on, which
 * stale recovery takes back.
 */
async function busyWorkersThrough(
  scenario: string,
  claim: string,
  fault: () => Promise<void>,
): Promise<void> {
  await drainLanes(stack);
  await drainQueue(stack, stack.sqsDlqUrl);
  const sql = connect(stack.dbUrl);
  await sql`update private.settings set stale_threshold_seconds = 15, max_stale_recoveries = 100`;
  const env = { HANDLER_DURATION_MS: "500" };
  const workers = [startWorker(stack, env), startWorker(stack, env)];
  const customer = uniqueCustomer("busy");
  let done = false;
  const sweeper = (async () => {
    while (!done) {
      await sql`select * from public.recover_stale_jobs()`.catch(() => {}); // Postgres may be down
      await sleep(1_000);
    }
  })();
  try {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${stack.apiUrl}/functions/v1/queue/${customer}`, {
        method: "POST",
        headers: { ...serviceHeaders(stack), "content-type": "application/json" },
        body: JSON.stringify({
          jobs: Array.from({ length: 100 }, () => ({ package_size: 1, priority_level: 0 })),
        }),
      });
      assert.equal(res.status, 202);
      ids.push(...(await res.json()).jobs.map((j: { id: string }) => j.id));
    }
    const completed = async () => {
      const [{ n }] = await sql<[{ n: number }]>`
        select count(*)::int as n from public.jobs where id = any(${ids}) and status = 'completed'`;
      return n;
    };
    await eventually(
      "50 jobs to be done",
      async () => (await completed()) >= 50 || undefined,
      60_000,
      100,
    );
    const started = performance.now();
    await fault();
    await eventually(
      "all 400 jobs completed",
      async () => (await completed()) === ids.length || undefined,
      180_000,
      500,
    );
    const seconds = (performance.now() - started) / 1000;
    const check = await assertSettledOnce(sql, ids, "none");
    report({
      scenario,
      claim,
      figures: {
        "jobs completed / completions recorded": `400 / ${check.completions}`,
        "jobs claimed more than once": String(check.reclaimed),
        "stale recoveries": String(check.recovered),
        "dead-lettered": String(check.dead),
        "from the fault to all 400 done": `${seconds.toFixed(1)} s`,
      },
    });
  } finally {
    done = true;
    await sweeper;
    await Promise.all(workers.map((w) => w.stop()));
    await sql`update private.settings set stale_threshold_seconds = 90, max_stale_recoveries = 3`;
    await drainLanes(stack);
    await sql.end();
  }
}

Deno.test("Postgres stopped for 5 s while workers are busy: every job completed once, none dead-lettered", async () => {
  await busyWorkersThrough(
    "Postgres stopped for 5 s under busy workers",
    "2 workers at concurrency 10 run 400 jobs of 500 ms; after 50, Postgres is stopped for 5 s and started again. Claims the database cannot take keep their messages hidden (no receive is spent), completions are tried again while their lease holds. Every job ends completed with one `completed` row, none dead-lettered, no lease left.",
    () => stopFor("postgres", 5_000),
  );
});

Deno.test("the SQS emulator stopped for 5 s while workers are busy: every job completed once, none dead-lettered", async () => {
  await busyWorkersThrough(
    "SQS stopped for 5 s under busy workers",
    "2 workers at concurrency 10 run 400 jobs of 500 ms; after 50, the SQS emulator is stopped for 5 s and started again. Receives fail and are tried again each second; deletes that failed come back as duplicates and are acknowledged. Every job ends completed with one `completed` row, none dead-lettered, no lease left.",
    () => stopFor("sqs", 5_000),
  );
});

Deno.test("workers at concurrency 10 SIGKILLed at random over 600 jobs: every job completed exactly once", async () => {
  await drainLanes(stack);
  const sql = connect(stack.dbUrl);
  // A short threshold and a sweep every second (the scheduler's job, faster), no recovery cap.
  await sql`update private.settings set stale_threshold_seconds = 5, max_stale_recoveries = 100`;
  const env = {
    HANDLER_DURATION_MS: "1000",
    HEARTBEAT_SECONDS: "0.5",
    VISIBILITY_TIMEOUT_SECONDS: "5",
  };
  const workers: WorkerProcess[] = Array.from({ length: 3 }, () => startWorker(stack, env));
  const customer = uniqueCustomer("sigkill");
  let kills = 0;
  let done = false;
  try {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${stack.apiUrl}/functions/v1/queue/${customer}`, {
        method: "POST",
        headers: { ...serviceHeaders(stack), "content-type": "application/json" },
        body: JSON.stringify({
          jobs: Array.from({ length: 200 }, () => ({ package_size: 1, priority_level: 0 })),
        }),
      });
      assert.equal(res.status, 202);
      ids.push(...(await res.json()).jobs.map((j: { id: string }) => j.id));
    }
    const started = performance.now();
    const chaos = (async () => {
      while (!done) {
        await sleep(1_000 + Math.random() * 2_000);
        if (done) break;
        const victim = Math.floor(Math.random() * workers.length);
        await workers[victim]!.stop("SIGKILL");
        kills++;
        workers[victim] = startWorker(stack, env);
      }
    })();
    const sweeper = (async () => {
      while (!done) {
        await sql`select * from public.recover_stale_jobs()`;
        await sleep(1_000);
      }
    })();
    await eventually(
      "all 600 jobs completed",
      async () => {
        const [{ n }] = await sql<[{ n: number }]>`
        select count(*)::int as n from public.jobs where id = any(${ids}) and status = 'completed'`;
        return n === ids.length ? true : undefined;
      },
      180_000,
      500,
    );
    done = true;
    await Promise.all([chaos, sweeper]);
    const seconds = (performance.now() - started) / 1000;

    // The invariant: one completion per job, none dead-lettered, no lease left.
    const check = await assertSettledOnce(sql, ids, "counted");
    assert.ok(kills >= 3, `workers were killed (${kills})`);
    report({
      scenario: "Workers at concurrency 10 SIGKILLed at random over 600 jobs",
      claim:
        "3 workers at concurrency 10 run 600 jobs of 1 s; every 1-3 s one of them is SIGKILLed and replaced, while stale recovery sweeps every second (threshold 5 s). Every job ends completed, with exactly one `completed` row in queue_history, none dead-lettered, no lease left. A message whose workers kept dying can reach jobs-dlq (3 receives); its job was re-sent by recovery and completed, and the copy is counted here.",
      figures: {
        "workers killed": String(kills),
        "stale recoveries": String(check.recovered),
        "jobs completed / completions recorded": `${ids.length} / ${check.completions}`,
        "dead-lettered": String(check.dead),
        "message copies left in jobs-dlq (jobs completed)": String(check.inDlq),
        "time to finish all 600": `${seconds.toFixed(1)} s`,
      },
    });
  } finally {
    done = true;
    await Promise.all(workers.map((w) => w.stop("SIGKILL")));
    await sql`update private.settings set stale_threshold_seconds = 90, max_stale_recoveries = 3`;
    await drainLanes(stack);
    await sql.end();
  }
});

Deno.test("the pg_net stand-in dropping the scheduler's requests: the next scheduled run covers them", async () => {
  await drainLanes(stack);
  const sql = connect(stack.dbUrl);
  const customer = uniqueCustomer("pgnet-drop");
  try {
    // pg_net "drops" every request: its runner is stopped (before anything is due, so no
    // earlier request can send the jobs) and each queued dispatch request is deleted.
    await control("pg-net-runner", "stop");
    // Jobs whose own dispatch failed (SQS down), so only the scheduler can send them.
    await control("sqs", "stop");
    const ids: string[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const r = await enqueue(customer);
        assert.equal(r.status, 202);
        ids.push(JSON.parse(r.body).job.id);
      }
    } finally {
      await control("sqs", "start");
    }
    await sql`update private.outbox set available_at = now() where job_id = any(${ids})`;
    const dropped = await eventually(
      "a scheduled dispatch request to drop",
      async () => {
        const rows = await sql`delete from net.http_request_queue
                              where url like '%/functions/v1/dispatch' returning id`;
        return rows.length > 0 ? rows.length : undefined;
      },
      90_000,
      200,
    );
    const droppedAt = performance.now();
    await control("pg-net-runner", "start");
    await eventually(
      "the next scheduled run to send every job",
      async () => {
        const [{ n }] = await sql<[{ n: number }]>`
        select count(*)::int as n from private.outbox
         where job_id = any(${ids}) and delivered_at is null`;
        return n === 0 ? true : undefined;
      },
      90_000,
      500,
    );
    const seconds = (performance.now() - droppedAt) / 1000;
    const sent = (await drainLanes(stack)).map((b) => JSON.parse(b).job_id);
    assert.deepEqual(sent.filter((id) => ids.includes(id)).sort(), [...ids].sort(), "each once");
    report({
      scenario: "pg_net dropping the scheduler's requests",
      claim:
        "5 jobs wait in the outbox (SQS was down when they were enqueued); the pg_net runner is stopped and the `dispatch-outbox` cron job's request deleted, as if pg_net had lost it. The next minute's run sends all 5, each once.",
      figures: {
        "requests dropped": String(dropped),
        "from the drop to all 5 sent": `${seconds.toFixed(1)} s (the minute schedule)`,
      },
    });
  } finally {
    await control("pg-net-runner", "start").catch(() => {});
    await sql.end();
  }
});

Deno.test("Postgres stopped in the middle of a DLQ walk: a clear 503, the DLQ as it was, every job settled by a later run", async () => {
  const sql = connect(stack.dbUrl);
  const sqs = sqsClient(stack.sqsEndpoint);
  const count = 6_000;
  try {
    await sql`update cron.job set active = false where jobname = 'dlq-monitor'`;
    // A scheduled run pg_net had already queued may still come: let it end first.
    await eventually(
      "no check holding the DLQ",
      async () => {
        const [row] = await sql`select coalesce(held_until < now(), true) as free
                                from private.dlq_monitor`;
        return row!.free ? true : undefined;
      },
      90_000,
      500,
    );
    await drainQueue(stack, stack.sqsDlqUrl);
    await sql`delete from private.dead_letters`;
    const ids = await seedDeadLetters(
      sql,
      sqs,
      stack.sqsDlqUrl,
      uniqueCustomer("dlq-outage"),
      count,
    );
    const check = () =>
      fetch(`${stack.apiUrl}/functions/v1/dlq-monitor`, {
        method: "POST",
        headers: serviceHeaders(stack),
      });

    // The walk is under way once its first batch is recorded; then Postgres goes.
    const first = check();
    await eventually(
      "the walk's first recorded batch",
      async () => {
        const [row] = await sql`select count(*)::int as n from private.dead_letters`;
        return row!.n > 0 ? true : undefined;
      },
      30_000,
      20,
    );
    await control("postgres", "stop");
    let answer: Response;
    try {
      answer = await first;
    } finally {
      await control("postgres", "start");
    }
    assert.equal(answer.status, 503);
    const body = await answer.json();
    assert.equal(typeof body.message, "string");
    assert.ok(!/postgres|ECONNREFUSED|at \//i.test(JSON.stringify(body)), JSON.stringify(body));
    // The outage came mid-walk, not after it: only part of the DLQ was recorded.
    const [part] = await sql`select count(*)::int as n from private.dead_letters`;
    assert.ok(part!.n > 0 && part!.n < count, `${part!.n} of ${count} recorded before the outage`);

    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: stack.sqsDlqUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    assert.deepEqual(
      [
        Number(Attributes?.ApproximateNumberOfMessages),
        Number(Attributes?.ApproximateNumberOfMessagesNotVisible),
      ],
      [count, 0],
      "every dead letter is still in the DLQ, visible again",
    );

    // The failed walk's lease could not be given back with the database down: it lapses (its
    // budget + 60 s), then the next check walks and settles every job.
    const downAt = performance.now();
    let skipped = 0;
    await eventually(
      "every job settled by a later check",
      async () => {
        const res = await check();
        const run = await res.json();
        if (res.status === 200 && run.skipped) skipped++;
        const [row] = await sql`select count(*)::int as n from public.jobs
                               where id = any(${ids}) and status = 'failed'`;
        return row!.n === count ? true : undefined;
      },
      150_000,
      5_000,
    );
    const seconds = (performance.now() - downAt) / 1000;
    assert.ok(skipped > 0, "the failed walk's lease, not given back, held later checks off");
    const history = await sql`select count(*)::int as n from public.queue_history
                               where job_id = any(${ids}) and event = 'dead_lettered'`;
    assert.equal(history[0]!.n, count, "each job settled once");
    const [rows] = await sql`select count(*)::int as n from private.dead_letters`;
    assert.equal(rows!.n, count, "every dead letter recorded");
    report({
      scenario: "Postgres stopped during a DLQ walk",
      claim:
        `${count} dead letters in the DLQ; Postgres is stopped while the dlq-monitor walks them. The check answers 503 with the error envelope, every message is back in the DLQ and visible, and once the walk's lease lapses a later check settles and records every job, each once.`,
      figures: {
        "checks skipped while the lease lapsed": String(skipped),
        "from Postgres back to every job settled": `${seconds.toFixed(1)} s`,
      },
    });
  } finally {
    await sql`update cron.job set active = true where jobname = 'dlq-monitor'`.catch(() => {});
    await drainQueue(stack, stack.sqsDlqUrl);
    sqs.destroy();
    await sql.end();
  }
});
