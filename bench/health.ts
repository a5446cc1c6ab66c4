/**
 * GET /functions/v1/health latency through the local stack (gateway, rate limiter, snapshot
 * query, SQS attributes) at 10k and at 1M jobs: the answer must not grow with the table.
 */
import postgres from "postgres";
import type { StackEnv } from "../scripts/stack/stack.ts";
import { type Figure, summarize } from "./stats.ts";

/** `total` jobs: a month of finished ones (1 in 20 failed), 1,000 pending, 1,000 in progress. */
export async function fillJobs(sql: postgres.Sql, total: number): Promise<void> {
  await sql`truncate public.jobs cascade`;
  await sql`truncate private.outbox`;
  // A month of history, finished jobs spread evenly: about 1/30 of them finished today, no two
  // at the same instant (as jobs are).
  await sql`
    insert into public.jobs (customer_id, package_size, status, attempts, completed_at, created_at)
    select 'bench-' || (g % 1000), 1, case when g % 20 = 0 then 'failed' else 'completed' end, 1,
           now() - (g % 30) * interval '1 day' - (g / 30) * interval '1 ms',
           now() - (g % 30) * interval '1 day' - (g / 30) * interval '1 ms'
      from generate_series(1, ${total - 2_000}) g`;
  await sql`
    insert into public.jobs (customer_id, package_size, status)
    select 'bench-' || g, 1, 'pending' from generate_series(1, 1000) g`;
  await sql`
    insert into public.jobs (customer_id, package_size, status, attempts, lease_token, leased_by,
                             leased_at, heartbeat_at)
    select 'bench-' || g, 1, 'in_progress', 1, gen_random_uuid(), 'w-' || (g % 20), now(), now()
      from generate_series(1, 1000) g`;
  await sql`vacuum analyze public.jobs`;
}

async function measure(env: StackEnv, requests = 1_000): Promise<{ p50: number; p99: number }> {
  const get = async () => {
    const started = performance.now();
    const res = await fetch(`${env.API_URL}/functions/v1/health`);
    await res.body?.cancel();
    if (res.status !== 200) throw new Error(`health answered ${res.status}`);
    return performance.now() - started;
  };
  for (let i = 0; i < 50; i++) await get();
  const latencies: number[] = [];
  for (let i = 0; i < requests; i++) latencies.push(await get());
  const { p50, p99 } = summarize(latencies);
  return { p50, p99 };
}

export async function healthFigures(env: StackEnv): Promise<Figure[]> {
  const sql = postgres(env.DB_URL, { max: 1, onnotice: () => {} });
  try {
    await fillJobs(sql, 10_000);
    const small = await measure(env);
    await fillJobs(sql, 1_000_000);
    const large = await measure(env);
    await sql`truncate public.jobs cascade`;
    const ratio = large.p99 / small.p99;
    return [
      {
        name: "GET /health at 10k jobs, p50 / p99",
        value: `${small.p50.toFixed(1)} / ${small.p99.toFixed(1)} ms`,
      },
      {
        name: "GET /health at 1M jobs, p50 / p99",
        value: `${large.p50.toFixed(1)} / ${large.p99.toFixed(1)} ms`,
        target: "p99 <= 25 ms",
        met: large.p99 <= 25,
      },
      {
        name: "GET /health p99 ratio 1M / 10k",
        value: ratio.toFixed(2),
        target: "<= 2",
        met: ratio <= 2,
      },
    ];
  } finally {
    await sql.end();
  }
}
