/**
 * The worker runtime's figures, side by side in one run (issue #16):
 * - the raw SQS ceiling: the emulator alone, batched receive (10) + DeleteMessageBatch, with as
 *   many pollers as the workers have (one receive loop per worker process);
 * - worker throughput: two processes at the default concurrency, an instant handler, a backlog
 *   waiting on SQS; measured once every process is at work, up to the last completion (queue_history);
 * - throughput against concurrency (1 to 50) with a 50 ms handler, one process, beside the ideal
 *   and the emulator's one-poller ceiling (a chart; 1 versus 10 is the target);
 * - heartbeat cost: database round trips per second, on the wire, of one process holding 10 jobs.
 * Enqueue-to-claimed latency with idle workers is in the pipeline group.
 */
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from "@aws-sdk/client-sqs";
import postgres from "postgres";
import { sqsClient } from "../scripts/stack/sqs_queues.ts";
import type { StackEnv } from "../scripts/stack/stack.ts";
import { pgRoundTrips } from "../tests/_support/pg_wire.ts";
import { tcpProxy } from "../tests/_support/tcp_proxy.ts";
import { reset, waitUntilDone } from "./pipeline.ts";
import type { Figure } from "./stats.ts";

/** Worker processes started with extra env vars; resolves to their stop. */
export type StartWorkers = (
  count: number,
  env?: Record<string, string>,
) => Promise<() => Promise<void>>;

const PROCESSES = 2;
/** Concurrency levels of one process with a 50 ms handler, for the throughput chart. */
const SWEEP = [1, 2, 5, 10, 20, 50];
/** Before issue #16: one job at a time per process, 2 processes, instant handler. */
const BEFORE_PER_SECOND = 168;

const headers = (env: StackEnv) => ({
  authorization: `Bearer ${env.SERVICE_ROLE_KEY}`,
  "content-type": "application/json",
});

/**
 * Enqueues `count` jobs for `customer` in bulk and waits until every one is on SQS. Each job is
 * `fields` plus package_size 1; without a priority_level it gets the default tier (starter),
 * in the default lane.
 */
export async function backlog(
  env: StackEnv,
  sql: postgres.Sql,
  customer: string,
  count: number,
  fields: Record<string, unknown> = {},
): Promise<void> {
  for (let done = 0; done < count; done += 500) {
    const size = Math.min(500, count - done);
    const res = await fetch(`${env.API_URL}/functions/v1/queue/${customer}`, {
      method: "POST",
      headers: headers(env),
      body: JSON.stringify({
        jobs: Array.from({ length: size }, (_, i) => ({
          package_size: 1,
          payload: { i: done + i },
          ...fields,
        })),
      }),
    });
    await res.body?.cancel();
    if (res.status !== 202) throw new Error(`bulk enqueue answered ${res.status}`);
  }
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const [row] = await sql`
      select count(*)::int as n from private.outbox o join public.jobs j on j.id = o.job_id
       where j.customer_id = ${customer} and o.delivered_at is null`;
    if (row!.n === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the backlog did not reach SQS within 120 s");
}

/**
 * Jobs per second of the customer's jobs once every worker process is at work: from the moment the
 * last process to start claimed its first job to the last completion, counting the completions in
 * between. Processes start a few hundred ms apart; counting from the first claim of the first one
 * would measure its start-up as much as the throughput of all of them.
 */
async function claimedToCompleted(
  sql: postgres.Sql,
  customer: string,
  count: number,
): Promise<number> {
  await waitUntilDone(sql, customer, count);
  const [span] = await sql`
    with history as (
      select h.* from public.queue_history h join public.jobs j on j.id = h.job_id
       where j.customer_id = ${customer}
    ), all_at_work as (
      select max(first_claim) as since
        from (select min(created_at) as first_claim from history
               where event = 'claimed' group by worker_id) firsts
    )
    select count(*)::int as completed,
           extract(epoch from max(h.created_at) - a.since) as seconds
      from history h, all_at_work a
     where h.event = 'completed' and h.created_at > a.since
     group by a.since`;
  return span!.completed / Number(span!.seconds);
}

/** The emulator alone: `pollers` loops of ReceiveMessage (10) + DeleteMessageBatch. */
async function rawCeiling(env: StackEnv, messages: number, pollers: number): Promise<number> {
  const sqs = sqsClient(env.SQS_ENDPOINT);
  try {
    const body = JSON.stringify({ job_id: crypto.randomUUID(), customer_id: "bench-raw" });
    for (let sent = 0; sent < messages; sent += 10) {
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: env.SQS_QUEUE_URL,
          Entries: Array.from({ length: 10 }, (_, i) => ({ Id: String(i), MessageBody: body })),
        }),
      );
    }
    let taken = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: pollers }, async () => {
      while (taken < messages) {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: env.SQS_QUEUE_URL,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
            VisibilityTimeout: 60,
          }),
        );
        const got = out.Messages ?? [];
        if (got.length === 0) continue;
        taken += got.length;
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: env.SQS_QUEUE_URL,
            Entries: got.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
          }),
        );
      }
    }));
    return messages / ((performance.now() - started) / 1000);
  } finally {
    sqs.destroy();
  }
}

/** Heartbeat round trips per second of one worker holding `held` jobs, counted on the wire. */
async function heartbeatTrips(
  env: StackEnv,
  sql: postgres.Sql,
  startWorkers: StartWorkers,
  held: number,
): Promise<number> {
  const trips = pgRoundTrips();
  const port = new URL(env.DB_URL).port;
  const db = tcpProxy(Number(port), { onClientBytes: trips.observe });
  const stop = await startWorkers(1, {
    WORKER_DB_URL: `${
      env.DB_URL.replace(`:${port}/`, `:${db.port}/`)
    }?options=-c%20role%3Dservice_role`,
    HANDLER_DURATION_MS: "600000",
    HEARTBEAT_SECONDS: "1",
  });
  try {
    await backlog(env, sql, "bench-beats", held);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const [row] = await sql`
        select count(*)::int as n from public.jobs
         where customer_id = 'bench-beats' and status = 'in_progress'`;
      if (row!.n === held) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1_500)); // past the claims' last completions
    const before = trips.count();
    const seconds = 10;
    await new Promise((r) => setTimeout(r, seconds * 1000));
    return (trips.count() - before) / seconds;
  } finally {
    await stop();
    await db.close();
  }
}

export async function workerFigures(env: StackEnv, startWorkers: StartWorkers): Promise<Figure[]> {
  const sql = postgres(env.DB_URL, { max: 2, onnotice: () => {} });
  const figures: Figure[] = [];
  try {
    await reset(env, sql);
    const raw = await rawCeiling(env, 6_000, PROCESSES);
    figures.push({
      name:
        `raw SQS ceiling: the emulator alone, receive 10 + DeleteMessageBatch, ${PROCESSES} pollers`,
      value: `${raw.toFixed(0)} messages/s`,
    });

    const jobs = 4_000;
    await backlog(env, sql, "bench-throughput", jobs);
    let stop = await startWorkers(PROCESSES, { HANDLER_DURATION_MS: "0" });
    let perSecond: number;
    try {
      perSecond = await claimedToCompleted(sql, "bench-throughput", jobs);
    } finally {
      await stop();
    }
    figures.push({
      name:
        `worker throughput (${jobs} jobs waiting, ${PROCESSES} processes at concurrency 10, 0 ms handler)`,
      value: `${perSecond.toFixed(0)} jobs/s (${
        (perSecond / raw * 100).toFixed(0)
      }% of the raw ceiling; ${(perSecond / BEFORE_PER_SECOND).toFixed(1)}x before)`,
      target: ">= 1000 jobs/s and >= 50% of the raw ceiling",
      met: perSecond >= 1_000 && perSecond >= raw / 2,
    });
    await reset(env, sql);

    // The sweep behind the throughput chart: about 5 s of ideal work per level, at least 100 jobs.
    const rates = new Map<number, number>();
    for (const concurrency of SWEEP) {
      const count = Math.max(100, concurrency * 100);
      const customer = `bench-c${concurrency}`;
      await backlog(env, sql, customer, count);
      stop = await startWorkers(1, {
        HANDLER_DURATION_MS: "50",
        WORKER_CONCURRENCY: String(concurrency),
      });
      try {
        rates.set(concurrency, await claimedToCompleted(sql, customer, count));
      } finally {
        await stop();
      }
      await reset(env, sql);
    }
    const onePoller = await rawCeiling(env, 6_000, 1);
    await reset(env, sql);
    const chart = "worker-concurrency";
    const speedup = rates.get(10)! / rates.get(1)!;
    figures.push({
      name: "one process, 50 ms handler: concurrency 1 versus 10",
      value: `${rates.get(1)!.toFixed(0)} / ${rates.get(10)!.toFixed(0)} jobs/s: ${
        speedup.toFixed(1)
      }x`,
      target: ">= 8x",
      met: speedup >= 8,
    }, {
      name: `one process, 50 ms handler, concurrency ${SWEEP.join(", ")} (raw ceiling, 1 poller)`,
      value: `${SWEEP.map((c) => rates.get(c)!.toFixed(0)).join(", ")} jobs/s (${
        onePoller.toFixed(0)
      } messages/s)`,
      points: SWEEP.flatMap((c) => [
        { chart, series: "measured", x: c, y: rates.get(c)! },
        { chart, series: "ideal: concurrency / 50 ms", x: c, y: c * 20 },
        { chart, series: "raw SQS ceiling, 1 poller (emulator alone)", x: c, y: onePoller },
      ]),
    });

    const trips = await heartbeatTrips(env, sql, startWorkers, 10);
    figures.push({
      name: "heartbeat cost: database round trips/s of one process holding 10 jobs (1 s beat)",
      value: `${trips.toFixed(1)} round trips/s (one call per job would be 10)`,
      target: "one per heartbeat interval",
      met: trips <= 1.2,
    });
    await reset(env, sql);
  } finally {
    await sql.end();
  }
  return figures;
}
