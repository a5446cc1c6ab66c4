/**
 * Stale-job recovery figures:
 * - recover_stale_jobs() at 10k and at 1M jobs (10k in progress, 1k of them stale each time):
 *   the sweep must cost what the stale jobs cost, not what the table holds;
 * - crash-to-requeue: a worker SIGKILLed mid-job, the default 90 s threshold, the minute
 *   schedule; how long until its job is pending again.
 */
import postgres from "postgres";
import type { StackEnv } from "../scripts/stack/stack.ts";
import type { Figure } from "./stats.ts";
import { summarize } from "./stats.ts";

const IN_PROGRESS = 10_000;
const STALE = 1_000;

async function fill(sql: postgres.Sql, total: number): Promise<void> {
  await sql`truncate public.jobs cascade`;
  await sql`truncate private.outbox`;
  // Finished jobs: what a long-lived table is mostly made of.
  await sql`
    insert into public.jobs (customer_id, package_size, status, attempts, completed_at, created_at)
    select 'bench-' || (g % 1000), 1, case when g % 10 = 0 then 'failed' else 'completed' end, 1,
           now() - (g % 1000) * interval '1 minute', now() - (g % 1000) * interval '1 minute'
      from generate_series(1, ${total - IN_PROGRESS}) g`;
  // In progress: most heartbeating, STALE of them silent for 5 minutes.
  await sql`
    insert into public.jobs (customer_id, package_size, status, attempts, lease_token, leased_by,
                             leased_at, heartbeat_at)
    select 'bench-' || (g % 1000), 1, 'in_progress', 1, gen_random_uuid(), 'w-' || (g % 50),
           now() - interval '10 minutes',
           case when g <= ${STALE} then now() - interval '5 minutes' else now() end
      from generate_series(1, ${IN_PROGRESS}) g`;
  await sql`vacuum analyze public.jobs`;
}

/** Median of several sweeps, each rolled back so every run sees the same 1k stale jobs. */
async function timeSweep(sql: postgres.Sql, runs = 7): Promise<{ ms: number; recovered: number }> {
  const times: number[] = [];
  let recovered = 0;
  for (let i = 0; i < runs; i++) {
    await sql.begin(async (tx) => {
      const started = performance.now();
      const [row] = await tx`select * from public.recover_stale_jobs()`;
      times.push(performance.now() - started);
      recovered = row!.recovered;
      throw new RollbackSignal();
    }).catch((error) => {
      if (!(error instanceof RollbackSignal)) throw error;
    });
  }
  return { ms: summarize(times).p50, recovered };
}

class RollbackSignal extends Error {}

export async function sweepFigures(env: StackEnv): Promise<Figure[]> {
  const sql = postgres(env.DB_URL, { max: 1, onnotice: () => {} });
  try {
    await fill(sql, 10_000);
    const small = await timeSweep(sql);
    await fill(sql, 1_000_000);
    const large = await timeSweep(sql);
    await sql`truncate public.jobs cascade`;
    await sql`truncate private.outbox`;
    if (small.recovered !== STALE || large.recovered !== STALE) {
      throw new Error(`sweep recovered ${small.recovered} / ${large.recovered}, expected ${STALE}`);
    }
    const ratio = large.ms / small.ms;
    return [
      {
        name: "recover_stale_jobs, 10k jobs (10k in progress, 1k stale)",
        value: `${small.ms.toFixed(1)} ms`,
      },
      {
        name: "recover_stale_jobs, 1M jobs (10k in progress, 1k stale)",
        value: `${large.ms.toFixed(1)} ms`,
        target: "<= 200 ms",
        met: large.ms <= 200,
      },
      {
        name: "recover_stale_jobs time ratio 1M / 10k",
        value: ratio.toFixed(2),
        target: "<= 1.5",
        met: ratio <= 1.5,
      },
    ];
  } finally {
    await sql.end();
  }
}

export interface WorkerHandle {
  id: string;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export async function crashToRequeue(
  env: StackEnv,
  startWorker: (env: Record<string, string>) => Promise<WorkerHandle>,
): Promise<Figure[]> {
  const sql = postgres(env.DB_URL, { max: 1, onnotice: () => {} });
  const worker = await startWorker({ HANDLER_DURATION_MS: "600000" });
  try {
    const [{ settings }] = await sql`
      select stale_threshold_seconds as settings from private.settings` as unknown as [
      { settings: number },
    ];
    const [job] = await sql`select (public.enqueue_job('bench-crash', 1)).job_id::text as id`;
    const id = job!.id as string;
    const dispatched = await fetch(`${env.API_URL}/functions/v1/dispatch`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.SERVICE_ROLE_KEY}` },
    });
    await dispatched.body?.cancel();
    const claimBy = Date.now() + 30_000;
    while (true) {
      const [row] = await sql`select status from public.jobs where id = ${id}`;
      if (row!.status === "in_progress") break;
      if (Date.now() > claimBy) throw new Error("crash-to-requeue: the job was never claimed");
      await new Promise((r) => setTimeout(r, 100));
    }
    // Let it heartbeat a little, as a real worker would have before dying.
    await new Promise((r) => setTimeout(r, 5_000));
    await worker.kill();
    const killedAt = Date.now();
    const deadline = killedAt + 240_000;
    while (Date.now() < deadline) {
      const [row] = await sql`select status from public.jobs where id = ${id}`;
      if (row!.status !== "in_progress") break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const seconds = (Date.now() - killedAt) / 1000;
    return [{
      name: `crash-to-requeue (SIGKILL mid-job, ${settings} s threshold, minute schedule)`,
      value: `${seconds.toFixed(0)} s`,
      target: "<= 150 s",
      met: seconds <= 150,
    }];
  } finally {
    await worker.stop();
    await sql.end();
  }
}
