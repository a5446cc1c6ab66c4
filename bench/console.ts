/**
 * console-api through the local stack (gateway, rate limiter, JWKS-verified operator token, the
 * reads' SQL, SQS attributes) at 10k and at 1M jobs: every read's p95 must stay within 100 ms at
 * 1M and within twice its 10k figure; GET /metrics within 50 ms at 1M. Then the console page
 * itself at 1M jobs, in headless Chromium (console_page.ts).
 */
import postgres from "postgres";
import { mintConsoleToken, stackSigningKey } from "../scripts/console_token.ts";
import type { StackEnv } from "../scripts/stack/stack.ts";
import { fillJobs } from "./health.ts";
import { pageFigures } from "./console_page.ts";
import { type Figure, percentile } from "./stats.ts";

/** Around the jobs: a week of roll-up, history, recoveries, dead letters, alerts, workers. */
async function fillAround(sql: postgres.Sql, total: number): Promise<void> {
  await fillJobs(sql, total);
  await sql`truncate private.job_stats, private.dead_letters, private.console_operations,
                     private.console_audit, public.worker_heartbeats`;
  await sql`delete from private.alerts`;
  // Every job's enqueue event, and 2,000 recoveries.
  await sql`insert into public.queue_history (job_id, event, attempt, created_at)
            select id, 'enqueued', 0, created_at from public.jobs`;
  await sql`insert into public.queue_history (job_id, event, attempt, worker_id, reason, created_at)
            select id, 'recovered', 1, leased_by, 'Recovered from stale state (no worker heartbeat)',
                   now() - (random() * interval '7 days')
              from public.jobs where status = 'in_progress' limit 2000`;
  await sql`insert into private.job_stats (minute, enqueued, claimed, completed, failed,
                                           latency_buckets)
            select date_trunc('minute', now()) - g * interval '1 minute', 100, 100, 95, 5,
                   array[10,20,30,20,10,5,3,1,1,0,0,0,0,0,0,0]
              from generate_series(1, 7 * 1440) g`;
  await sql`insert into private.dead_letters (message_id, job_id, customer_id, receive_count, action)
            select 'm-' || id, id, customer_id, 3, 'settled'
              from public.jobs where status = 'failed' limit 1000`;
  await sql`insert into public.worker_heartbeats (worker_id, last_heartbeat)
            select 'w-' || g, now() from generate_series(0, 19) g`;
  await sql`insert into private.alerts (kind, message)
            select 'dlq_grew', jsonb_build_object('text', 'DLQ grew to ' || g)
              from generate_series(1, 200) g`;
  // A week of refusals: 3 clients refused every minute (as record_refusals keeps them: per minute
  // and per hour).
  await sql`truncate private.rate_limit_refusals`;
  await sql`insert into private.rate_limit_refusals (minute, fn, policy, client_hash, client_kind,
                                                     refused)
            select date_trunc('minute', now()) - m * interval '1 minute', 'queue', 'standard',
                   sha256(('ip:' || c)::bytea), 'ip', 5
              from generate_series(0, 7 * 1440 - 1) m, generate_series(1, 3) c`;
  await sql`truncate private.rate_limit_refusals_hourly`;
  await sql`insert into private.rate_limit_refusals_hourly (hour, fn, policy, client_hash,
                                                            client_kind, refused)
            select date_trunc('hour', minute), fn, policy, client_hash, client_kind, sum(refused)
              from private.rate_limit_refusals group by 1, 2, 3, 4, 5`;
  await sql`insert into private.console_audit (actor, role, action, target, affected, result)
            select 'bench', 'operator', 'retry', '{}', 1, 'ok' from generate_series(1, 5000)`;
  await sql`vacuum analyze public.jobs, public.queue_history, private.job_stats`;
}

interface Read {
  name: string;
  path: string;
  metrics?: true;
}

async function reads(sql: postgres.Sql): Promise<Read[]> {
  const [job] = await sql<{ id: string; customer_id: string }[]>`
    select id::text, customer_id from public.jobs where status = 'failed' limit 1`;
  return [
    { name: "overview", path: "/overview" },
    { name: "jobs, newest first", path: "/jobs" },
    { name: "jobs, failed", path: "/jobs?status=failed" },
    { name: "jobs, one customer", path: `/jobs?customer_id=${job!.customer_id}` },
    {
      name: "jobs, customer + failed + day",
      path: `/jobs?customer_id=${job!.customer_id}&status=failed&created_after=${
        new Date(Date.now() - 86_400_000).toISOString()
      }`,
    },
    { name: "jobs, by id", path: `/jobs?id=${job!.id}` },
    { name: "job detail", path: `/jobs/${job!.id}` },
    { name: "leases", path: "/leases" },
    { name: "recoveries", path: "/recoveries" },
    { name: "workers", path: "/workers" },
    { name: "dlq", path: "/dlq" },
    { name: "alerts", path: "/alerts" },
    { name: "rate limits, 7 days", path: "/rate-limits?window=7d" },
    { name: "schedules", path: "/schedules" },
    { name: "operations", path: "/operations" },
    { name: "audit", path: "/audit" },
    { name: "metrics", path: "/metrics", metrics: true },
  ];
}

/** p95 of each read, one request at a time (a console polls; it does not flood). */
async function measure(
  env: StackEnv,
  list: Read[],
  token: string,
  requests: number,
): Promise<Map<string, number>> {
  const base = `${env.API_URL}/functions/v1/console-api`;
  const p95 = new Map<string, number>();
  for (const read of list) {
    const headers = { authorization: `Bearer ${read.metrics ? env.METRICS_TOKEN : token}` };
    const once = async () => {
      const started = performance.now();
      const res = await fetch(`${base}${read.path}`, { headers });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${read.path} answered ${res.status}`);
      return performance.now() - started;
    };
    for (let i = 0; i < 20; i++) await once();
    const times: number[] = [];
    for (let i = 0; i < requests; i++) times.push(await once());
    p95.set(read.name, percentile(times.sort((a, b) => a - b), 95));
  }
  return p95;
}

export async function consoleFigures(env: StackEnv, stateDir: string): Promise<Figure[]> {
  const sql = postgres(env.DB_URL, { max: 1, onnotice: () => {} });
  const token = await mintConsoleToken(stackSigningKey(stateDir), {
    role: "viewer",
    issuer: env.API_URL,
  });
  try {
    await fillAround(sql, 10_000);
    const small = await measure(env, await reads(sql), token, 200);
    await fillAround(sql, 1_000_000);
    const large = await measure(env, await reads(sql), token, 200);
    const pages = await pageFigures(env, token, large);
    await sql`truncate public.jobs cascade`;
    const figures: Figure[] = [];
    for (const [name, at1m] of large) {
      const at10k = small.get(name)!;
      const limit = name === "metrics" ? 50 : 100;
      const ratio = at1m / at10k;
      figures.push({
        name: `console-api ${name}: p95 at 10k / 1M jobs, ratio`,
        value: `${at10k.toFixed(1)} / ${at1m.toFixed(1)} ms, ${ratio.toFixed(2)}`,
        target: `1M <= ${limit} ms, ratio <= 2`,
        met: at1m <= limit && ratio <= 2,
      });
    }
    return [...figures, ...pages];
  } finally {
    await sql.end();
  }
}
