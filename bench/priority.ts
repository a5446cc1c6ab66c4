/**
 * Priority lanes and fairness between customers, side by side in one run (issue #18), with two
 * worker processes at concurrency 10 and a 20 ms handler:
 * - idle workers, jobs arriving at 20/s in turn in each lane (300 each): enqueue-to-claimed per
 *   lane, the default lane against one queue (every job in it, workers long-polling it alone, as
 *   before #18);
 * - 20,000 low-priority jobs waiting, high-priority jobs arriving at 20/s: their enqueue-to-claimed
 *   p50/p99 with the shipped lanes, against the same run with one lane (every band the default
 *   lane and workers on it alone: the single queue from before #18);
 * - the low lane's share of completions while the high lane is saturated, against the share
 *   WORKER_LANE_SHARE keeps for it;
 * - two customers, the noisy one with a backlog of 3,000 jobs (10x) waiting while the quiet one sends
 *   300 (10/s for 30 s), the per-customer cap on (5 of the 20 slots): the quiet customer's
 *   enqueue-to-claimed p99 against a run where it is alone, and the noisy customer's jobs all
 *   completed; and how long the workers' first pass over a fresh backlog takes.
 * Waits come from the database's own clock: jobs.created_at to the first `claimed` history row.
 */
import postgres from "postgres";
import type { StackEnv } from "../scripts/stack/stack.ts";
import { reset, waitUntilDone } from "./pipeline.ts";
import { sqsClient } from "../scripts/stack/sqs_queues.ts";
import { queueDepth } from "../supabase/functions/_shared/sqs.ts";
import { type Figure, summarize } from "./stats.ts";
import { backlog, type StartWorkers } from "./workers.ts";

const PROCESSES = 2;
const HANDLER = { HANDLER_DURATION_MS: "20" };
/** The jobs policy allows 10,000 jobs an hour per customer: a big backlog has several. */
const PER_CUSTOMER = 5_000;
/** The shipped WORKER_LANE_SHARE. */
const SHARE = 0.2;

const ms = (x: number) => x.toFixed(0);

/** `count` jobs of these fields, spread over customers `<prefix>-1..n` (5,000 each at most). */
async function spreadBacklog(
  env: StackEnv,
  sql: postgres.Sql,
  prefix: string,
  count: number,
  fields: Record<string, unknown>,
): Promise<void> {
  for (let i = 0; i * PER_CUSTOMER < count; i++) {
    await backlog(
      env,
      sql,
      `${prefix}-${i + 1}`,
      Math.min(PER_CUSTOMER, count - i * PER_CUSTOMER),
      fields,
    );
  }
}

/** Enqueue-to-first-claim of these jobs, in ms, once each is claimed (within `timeoutMs`). */
async function waits(sql: postgres.Sql, ids: string[], timeoutMs = 180_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const rows = await sql<{ ms: number }[]>`
      select extract(epoch from min(h.created_at) - j.created_at) * 1000 as ms
        from public.jobs j join public.queue_history h on h.job_id = j.id and h.event = 'claimed'
       where j.id = any(${ids}::uuid[])
       group by j.id, j.created_at`;
    if (rows.length === ids.length) return rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`not every job was claimed within ${timeoutMs / 1000} s`);
}

/** Single POSTs of one job each, `perSecond` of them for `seconds`; the new job ids. */
async function arrivals(
  env: StackEnv,
  customer: string,
  /** The fields of job i (besides package_size 1). */
  fields: Record<string, unknown> | ((i: number) => Record<string, unknown>),
  perSecond: number,
  seconds: number,
): Promise<string[]> {
  const fieldsOf = typeof fields === "function" ? fields : () => fields;
  const ids: Promise<string>[] = [];
  const started = performance.now();
  for (let i = 0; i < perSecond * seconds; i++) {
    const due = started + (i * 1000) / perSecond;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    ids.push(
      fetch(`${env.API_URL}/functions/v1/queue/${customer}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${env.SERVICE_ROLE_KEY}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ package_size: 1, ...fieldsOf(i) }),
      }).then(async (res) => {
        if (res.status !== 202) throw new Error(`enqueue answered ${res.status}`);
        return (await res.json()).job.id as string;
      }),
    );
  }
  return await Promise.all(ids);
}

/**
 * Idle workers, jobs arriving at 20/s for 45 s, in turn in each lane (300 each; or all 900 in the
 * one lane): each lane's enqueue-to-claimed waits.
 */
async function idleLatency(
  env: StackEnv,
  sql: postgres.Sql,
  startWorkers: StartWorkers,
  oneLane: boolean,
): Promise<Record<string, number[]>> {
  await reset(env, sql);
  const stop = await startWorkers(PROCESSES, {
    ...HANDLER,
    ...(oneLane ? { WORKER_LANES: "default" } : {}),
  });
  try {
    const levels = oneLane ? { default: "starter" } : { high: 9, default: "starter", low: 0 };
    const lanes = Object.entries(levels);
    const ids = await arrivals(
      env,
      "bench-idle",
      (i) => ({ priority_level: lanes[i % lanes.length]![1] }),
      20,
      45,
    );
    const out: Record<string, number[]> = {};
    for (const [k, [lane]] of lanes.entries()) {
      out[lane] = await waits(sql, ids.filter((_, i) => i % lanes.length === k));
    }
    return out;
  } finally {
    await stop();
  }
}

/**
 * High-priority arrivals at 20/s for 10 s over 20,000 waiting low-priority jobs: the high jobs'
 * waits, with the shipped bands or with every band in the default lane (one queue).
 */
async function highOverLow(
  env: StackEnv,
  sql: postgres.Sql,
  startWorkers: StartWorkers,
  oneLane: boolean,
): Promise<number[]> {
  await reset(env, sql);
  if (oneLane) {
    await sql`delete from private.priority_lanes where name in ('high', 'low')`;
    await sql`update private.priority_lanes set min_level = 0 where name = 'default'`;
  }
  try {
    await spreadBacklog(env, sql, "bench-low", 20_000, { priority_level: 0 });
    const stop = await startWorkers(PROCESSES, {
      ...HANDLER,
      ...(oneLane ? { WORKER_LANES: "default" } : {}),
    });
    try {
      const ids = await arrivals(env, "bench-high", { priority_level: "enterprise" }, 20, 10);
      return await waits(sql, ids);
    } finally {
      await stop();
    }
  } finally {
    await sql`delete from private.priority_lanes`;
    await sql`insert into private.priority_lanes (name, min_level)
              values ('high', 7), ('default', 2), ('low', 0)`;
  }
}

/** The low lane's share of the completions in a 10 s window while both lanes have plenty. */
async function lowShare(
  env: StackEnv,
  sql: postgres.Sql,
  startWorkers: StartWorkers,
): Promise<{ share: number; completed: number }> {
  await reset(env, sql);
  await spreadBacklog(env, sql, "bench-sat-high", 10_000, { priority_level: 9 });
  await spreadBacklog(env, sql, "bench-sat-low", 5_000, { priority_level: 0 });
  const stop = await startWorkers(PROCESSES, HANDLER);
  try {
    await new Promise((r) => setTimeout(r, 3_000)); // both processes at work
    const [{ since }] = await sql<[{ since: Date }]>`select now() as since`;
    await new Promise((r) => setTimeout(r, 10_000));
    const [row] = await sql<[{ high: number; low: number }]>`
      select count(*) filter (where lane = 'high')::int as high,
             count(*) filter (where lane = 'low')::int as low
        from public.jobs
       where customer_id like 'bench-sat-%' and status = 'completed'
         and completed_at >= ${since} and completed_at < ${since}::timestamptz + interval '10 s'`;
    const pending = await sql`
      select 1 from public.jobs where customer_id like 'bench-sat-high-%' and status = 'pending'
       limit 1`;
    if (pending.length === 0) throw new Error("the high lane ran dry inside the window");
    return { share: row.low / (row.high + row.low), completed: row.high + row.low };
  } finally {
    await stop();
  }
}

/**
 * The quiet customer's jobs arriving at 10/s for 30 s (300) while the noisy customer's backlog of
 * 3,000 (10x) waits, or alone; the cap on, workers idle beforehand. The quiet jobs start once the
 * workers have been through the backlog once (capping all but a few): jobs arriving during that
 * first pass wait behind it, since the emulator's queue is first in, first out (SQS fair queues on
 * AWS deliver them first); that pass is measured on its own. Also: whether every noisy job
 * completed.
 */
async function quietBehindNoisy(
  env: StackEnv,
  sql: postgres.Sql,
  startWorkers: StartWorkers,
  cap: number,
  withNoisy: boolean,
): Promise<{ waits: number[]; noisyDone: boolean; firstPassMs: number }> {
  await reset(env, sql);
  await sql`update private.settings set max_in_progress_per_customer = ${cap}`;
  const stop = await startWorkers(PROCESSES, HANDLER);
  try {
    const started = performance.now();
    if (withNoisy) {
      await backlog(env, sql, "bench-noisy", 3_000);
      await firstPassOver(env, sql);
    }
    const firstPassMs = performance.now() - started;
    const quiet = await waits(sql, await arrivals(env, "bench-quiet", {}, 10, 30));
    if (!withNoisy) return { waits: quiet, noisyDone: true, firstPassMs };
    await waitUntilDone(sql, "bench-noisy", 3_000);
    const [row] = await sql<[{ unfinished: number }]>`
      select count(*)::int as unfinished from public.jobs
       where customer_id = 'bench-noisy' and status <> 'completed'`;
    return { waits: quiet, noisyDone: row.unfinished === 0, firstPassMs };
  } finally {
    await stop();
    await sql`update private.settings set max_in_progress_per_customer = null`;
  }
}

/** Every noisy job on SQS and none visible: each message received once (claimed or capped). */
async function firstPassOver(env: StackEnv, sql: postgres.Sql): Promise<void> {
  const sqs = sqsClient(env.SQS_ENDPOINT);
  try {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const [row] = await sql`
        select count(*)::int as unsent from private.outbox o join public.jobs j on j.id = o.job_id
         where j.customer_id = 'bench-noisy' and o.delivered_at is null`;
      const { visible } = await queueDepth(sqs, env.SQS_QUEUE_URL);
      if (row!.unsent === 0 && visible === 0) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error("the workers did not get through the noisy backlog within 60 s");
  } finally {
    sqs.destroy();
  }
}

export async function priorityFigures(
  env: StackEnv,
  startWorkers: StartWorkers,
): Promise<Figure[]> {
  const sql = postgres(env.DB_URL, { max: 2, onnotice: () => {} });
  const figures: Figure[] = [];
  try {
    const idle = await idleLatency(env, sql, startWorkers, false);
    const single = summarize((await idleLatency(env, sql, startWorkers, true)).default!);
    const [high, normal, low] = ["high", "default", "low"].map((l) => summarize(idle[l]!));
    figures.push({
      name:
        "idle workers, jobs at 20/s in turn in each lane (300 each): enqueue-to-claimed p50 / p99 of the default lane vs one queue",
      value: `${ms(normal!.p50)} / ${ms(normal!.p99)} ms vs ${ms(single.p50)} / ${
        ms(single.p99)
      } ms`,
      target: "no worse than one queue (+30% run-to-run noise)",
      met: normal!.p99 <= single.p99 * 1.3,
    });
    figures.push({
      name:
        "idle workers, jobs at 20/s across the lanes: enqueue-to-claimed p50 / p99, high and low",
      value: `high ${ms(high!.p50)} / ${ms(high!.p99)} ms; low ${ms(low!.p50)} / ${
        ms(low!.p99)
      } ms`,
      target: "p99 <= 1000 ms",
      met: high!.p99 <= 1000 && low!.p99 <= 1000,
    });

    const lanes = summarize(await highOverLow(env, sql, startWorkers, false));
    const one = summarize(await highOverLow(env, sql, startWorkers, true));
    figures.push({
      name:
        "high-priority jobs at 20/s over 20,000 waiting low ones: enqueue-to-claimed p50 / p99, lanes vs one lane",
      value: `lanes ${ms(lanes.p50)} / ${ms(lanes.p99)} ms; one lane ${ms(one.p50)} / ${
        ms(one.p99)
      } ms`,
      target: "p99 <= 500 ms with lanes",
      met: lanes.p99 <= 500,
    });

    const { share, completed } = await lowShare(env, sql, startWorkers);
    figures.push({
      name:
        `low lane's share of completions while the high lane is saturated (${completed} in 10 s)`,
      value: `${(share * 100).toFixed(1)}% (WORKER_LANE_SHARE ${SHARE * 100}%)`,
      target: `>= ${SHARE * 100}%`,
      met: share >= SHARE,
    });

    const cap = 5;
    const alone = summarize((await quietBehindNoisy(env, sql, startWorkers, cap, false)).waits);
    const behind = await quietBehindNoisy(env, sql, startWorkers, cap, true);
    const shared = summarize(behind.waits);
    const ratio = shared.p99 / alone.p99;
    figures.push({
      name:
        `quiet customer's 300 jobs at 10/s while a noisy one's backlog of 3,000 waits, cap ${cap}: enqueue-to-claimed p99 vs alone`,
      value: `${ms(shared.p99)} ms vs ${ms(alone.p99)} ms alone: ${ratio.toFixed(1)}x; noisy ${
        behind.noisyDone ? "all completed" : "NOT all completed"
      }`,
      target: "<= 2x, and every noisy job completed",
      met: ratio <= 2 && behind.noisyDone,
    });
    figures.push({
      name:
        `the workers' first pass over a fresh backlog of 3,000 at the cap (enqueue included): what a job arriving meanwhile may wait on the emulator's FIFO queue`,
      value: `${(behind.firstPassMs / 1000).toFixed(1)} s`,
    });
    await reset(env, sql);
  } finally {
    await sql.end();
  }
  return figures;
}
