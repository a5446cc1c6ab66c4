/**
 * The job pipeline's figures on the local stack:
 * - enqueue throughput over HTTP (queue function → Postgres + outbox → SQS), with POST latency;
 * - worker throughput: two reference workers with an instant handler draining a batch;
 * - enqueue-to-claimed latency with the workers long-polling an empty queue.
 */
import { PurgeQueueCommand } from "@aws-sdk/client-sqs";
import postgres from "postgres";
import { sqsClient } from "../scripts/stack/sqs_queues.ts";
import type { StackEnv } from "../scripts/stack/stack.ts";
import { type Figure, summarize } from "./stats.ts";

async function post(env: StackEnv, customer: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${env.API_URL}/functions/v1/queue/${customer}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${env.SERVICE_ROLE_KEY}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ package_size: 10, priority_level: 1 }),
  });
  await res.body?.cancel();
  if (res.status !== 202) throw new Error(`enqueue answered ${res.status}`);
  return performance.now() - started;
}

async function waitUntilDone(sql: postgres.Sql, customer: string, count: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const [row] = await sql`
      select count(*)::int as n from public.jobs
       where customer_id = ${customer} and status = 'completed'`;
    if (row!.n >= count) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`jobs of ${customer} did not complete within 120 s`);
}

/** Empties the queue and forgets the jobs, so the next figure starts from a clean state. */
async function reset(env: StackEnv, sql: postgres.Sql): Promise<void> {
  const sqs = sqsClient(env.SQS_ENDPOINT);
  await sqs.send(new PurgeQueueCommand({ QueueUrl: env.SQS_QUEUE_URL }));
  sqs.destroy();
  await sql`delete from public.jobs where customer_id like 'bench-%'`;
}

export async function pipelineFigures(
  env: StackEnv,
  startWorkers: (count: number) => Promise<() => Promise<void>>,
): Promise<Figure[]> {
  const figures: Figure[] = [];
  const sql = postgres(env.DB_URL, { max: 1, onnotice: () => {} });
  try {
    // 1. Enqueue throughput, after warming up the function instance and its pools.
    for (let i = 0; i < 20; i++) await post(env, "bench-warmup");
    const total = 2_000;
    const concurrency = 20;
    const latencies: number[] = [];
    let next = 0;
    let started = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        latencies.push(await post(env, "bench-throughput"));
      }
    }));
    let seconds = (performance.now() - started) / 1000;
    const post50 = summarize(latencies);
    figures.push(
      {
        name: `enqueue throughput (${total} POSTs, concurrency ${concurrency})`,
        value: `${(total / seconds).toFixed(0)} jobs/s`,
      },
      {
        name: "enqueue POST latency p50 / p99",
        value: `${post50.p50.toFixed(1)} / ${post50.p99.toFixed(1)} ms`,
      },
    );
    await reset(env, sql);

    // 2. Worker throughput: a batch waiting on SQS, two workers, an instant handler.
    const batch = 500;
    await sql`select public.enqueue_job('bench-workers', 1) from generate_series(1, ${batch})`;
    const dispatched = await fetch(`${env.API_URL}/functions/v1/dispatch`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.SERVICE_ROLE_KEY}` },
    });
    await dispatched.body?.cancel();
    started = performance.now();
    const stop = await startWorkers(2);
    try {
      await waitUntilDone(sql, "bench-workers", batch);
      seconds = (performance.now() - started) / 1000;
      figures.push({
        name: `worker throughput (${batch} jobs, 2 workers, 0 ms handler, incl. start-up)`,
        value: `${(batch / seconds).toFixed(0)} jobs/s`,
      });

      // 3. Enqueue-to-claimed latency, the workers long-polling an empty queue.
      const jobs = 200;
      const customer = "bench-latency";
      for (let i = 0; i < jobs; i++) {
        await post(env, customer);
        await new Promise((r) => setTimeout(r, 50));
      }
      await waitUntilDone(sql, customer, jobs);
      const rows = await sql`
        select extract(epoch from (h.created_at - j.created_at)) * 1000 as ms
          from public.jobs j
          join public.queue_history h on h.job_id = j.id and h.event = 'claimed' and h.attempt = 1
         where j.customer_id = ${customer}`;
      const claimed = summarize(rows.map((r) => Number(r.ms)));
      figures.push({
        name: `enqueue-to-claimed latency p50 / p99 (${rows.length} jobs at 20/s, 2 workers)`,
        value: `${claimed.p50.toFixed(1)} / ${claimed.p99.toFixed(1)} ms`,
      });
    } finally {
      await stop();
    }
  } finally {
    await sql.end();
  }
  return figures;
}
