/**
 * DLQ-to-Slack latency with the real minute schedule: pg_cron -> pg_net -> dlq-monitor ->
 * Slack sink. The dead letter lands just after a scheduled run, the worst moment: it waits
 * almost a whole minute for the next one.
 */
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import postgres from "postgres";
import { sqsClient } from "../scripts/stack/sqs_queues.ts";
import type { StackEnv } from "../scripts/stack/stack.ts";
import type { Figure } from "./stats.ts";

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
