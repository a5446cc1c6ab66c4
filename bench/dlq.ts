/**
 * The DLQ monitor's figures:
 * - DLQ-to-Slack latency with the real minute schedule: pg_cron -> pg_net -> dlq-monitor ->
 *   Slack sink. The dead letter lands just after a scheduled run, the worst moment: it waits
 *   almost a whole minute for the next one.
 * - A flood of 1,000 and of 10,000 dead letters (jobs whose last copy is in the DLQ): the runs it
 *   takes to settle every job, each run's duration and SQS calls, over HTTP as pg_cron calls it
 *   (the schedule paused, runs back to back: on the schedule each run starts a minute after the
 *   last). Beside it, the monitor before issue #17, which settled the 10 jobs it sampled per run.
 */
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import postgres from "postgres";
import { sqsClient } from "../scripts/stack/sqs_queues.ts";
import type { StackEnv } from "../scripts/stack/stack.ts";
import { seedDeadLetters } from "../tests/_support/dead_letters.ts";
import { drainQueue } from "../tests/_support/pipeline.ts";
import type { Figure } from "./stats.ts";

/** Dead letters the monitor settled per run before issue #17 (one sample of 10). */
const BEFORE_PER_RUN = 10;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`bench: timed out waiting for ${what}`);
}

export async function dlqToSlack(env: StackEnv): Promise<Figure[]> {
  const sql = postgres(env.DB_URL, { max: 1, onnotice: () => {} });
  const sqs = sqsClient(env.SQS_ENDPOINT);
  const sink = new URL(env.SLACK_WEBHOOK_URL).origin;
  try {
    await sql`update private.dlq_monitor set depth = 0, incident_since = null, alerted_depth = null,
                                             alerted_at = null, empty_checks = 0`;
    await sql`delete from private.alerts`;
    await (await fetch(`${sink}/_sink/messages`, { method: "DELETE" })).body?.cancel();
    const lastRun = async () => {
      const [row] = await sql<{ start_time: Date | null }[]>`
        select max(d.start_time) as start_time from cron.job_run_details d
          join cron.job j using (jobid) where j.jobname = 'dlq-monitor'`;
      return row?.start_time?.getTime() ?? 0;
    };
    const before = await lastRun();
    await until(
      "a scheduled dlq-monitor run",
      async () => (await lastRun()) > before ? true : undefined,
      70_000,
    );
    // Let that run finish before the dead letter lands.
    await new Promise((r) => setTimeout(r, 2_000));
    const landed = Date.now();
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: env.SQS_DLQ_URL,
        MessageBody: JSON.stringify({ job_id: crypto.randomUUID(), customer_id: "bench" }),
      }),
    );
    const posted = await until("the Slack alert", async () => {
      const messages = await (await fetch(`${sink}/_sink/messages`)).json() as {
        receivedAt: string;
        status: number;
      }[];
      const ok = messages.find((m) => m.status === 200);
      return ok ? Date.parse(ok.receivedAt) : undefined;
    }, 150_000);
    const seconds = (posted - landed) / 1000;
    return [{
      name: "DLQ to Slack, landing just after a scheduled check (worst case, minute schedule)",
      value: `${seconds.toFixed(1)} s`,
      target: "<= 90 s",
      met: seconds <= 90,
    }];
  } finally {
    sqs.destroy();
    await sql.end();
  }
}

interface CheckAnswer {
  read: number;
  walked: boolean;
  deadLettered: number;
  sqsCalls: number;
  durationMs: number;
}

/** Runs the monitor until every job of the flood is settled (at most `maxRuns` runs). */
async function flood(env: StackEnv, sql: postgres.Sql, size: number, maxRuns: number) {
  const sqs = sqsClient(env.SQS_ENDPOINT);
  try {
    const customer = `bench-flood-${size}-${crypto.randomUUID().slice(0, 8)}`;
    const ids = await seedDeadLetters(sql, sqs, env.SQS_DLQ_URL, customer, size);
    const runs: CheckAnswer[] = [];
    let settled = 0;
    while (settled < size && runs.length < maxRuns) {
      const res = await fetch(`${env.API_URL}/functions/v1/dlq-monitor`, {
        method: "POST",
        headers: { authorization: `Bearer ${env.SERVICE_ROLE_KEY}` },
      });
      const body = await res.json();
      if (res.status !== 200) throw new Error(`dlq-monitor answered ${res.status}`);
      runs.push(body as CheckAnswer);
      const [row] = await sql`select count(*)::int as n from public.jobs
                               where id = any(${ids}) and status = 'failed'`;
      settled = row!.n;
    }
    return { runs, settled };
  } finally {
    sqs.destroy();
  }
}

export async function dlqFloodFigures(env: StackEnv): Promise<Figure[]> {
  const sql = postgres(env.DB_URL, { max: 2, onnotice: () => {} });
  const figures: Figure[] = [];
  try {
    await sql`update cron.job set active = false where jobname = 'dlq-monitor'`;
    for (const [size, withinRuns] of [[1_000, 2], [10_000, 10]] as const) {
      await drainQueue({ sqsEndpoint: env.SQS_ENDPOINT }, env.SQS_DLQ_URL);
      await sql`delete from private.dead_letters`;
      const { runs, settled } = await flood(env, sql, size, withinRuns + 5);
      const seconds = runs.map((r) => (r.durationMs / 1000).toFixed(1)).join(" + ");
      const calls = runs.map((r) => r.sqsCalls).join(" + ");
      const met = settled === size && runs.length <= withinRuns;
      figures.push({
        name: `DLQ flood of ${size.toLocaleString("en-US")}: runs until every job is settled`,
        // On the minute schedule a flood waits up to a minute for the first run; each further
        // run starts a minute after the one before.
        value: settled === size
          ? `${runs.length} run(s): ${seconds} s, ${calls} SQS calls; settled within ${
            runs.length - 1
          } min + ${(runs.at(-1)!.durationMs / 1000).toFixed(1)} s of the first run (before: ${
            Math.ceil(size / BEFORE_PER_RUN)
          } runs at its 10 a run)`
          : `not settled after ${runs.length} runs: ${seconds} s`,
        target: withinRuns === 2
          ? "<= 2 scheduled runs"
          : `<= ${withinRuns} scheduled runs (10 minutes)`,
        met,
      });
    }
    await drainQueue({ sqsEndpoint: env.SQS_ENDPOINT }, env.SQS_DLQ_URL);
    await sql`delete from private.dead_letters`;
  } finally {
    await sql`update cron.job set active = true where jobname = 'dlq-monitor'`;
    await sql.end();
  }
  return figures;
}
