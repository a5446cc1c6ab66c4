/**
 * After the soak's load: waiting until everything has settled, then reading back what the checks
 * need in one consistent view. The stack keeps running meanwhile (pg_cron, the DLQ monitor), so
 * "settled" must hold across a DLQ monitor run, and the alerts are read on both sides of the
 * Slack sink's list until nothing moved in between.
 */
import type postgres from "postgres";
import type { AlertRow, JobRow, SlackPost } from "./checks.ts";
import { sampleDatabase } from "./sample.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function quiet(sql: postgres.Sql, ids: string[]): Promise<boolean> {
  const [row] = await sql<{ open: number; undelivered: number }[]>`
    select (select count(*)::int from public.jobs
             where id = any(${ids}::uuid[]) and status in ('pending', 'in_progress')) as open,
           (select count(*)::int from private.alerts where delivered_at is null) as undelivered`;
  return row!.open === 0 && row!.undelivered === 0;
}

/**
 * Waits until every job in `ids` has ended and every alert is delivered, and still so after the
 * DLQ monitor's next run (a job it marks dead-lettered gets its alert at the end of that run).
 * Resolves false when `limitMs` passes first.
 */
export async function drain(sql: postgres.Sql, ids: string[], limitMs: number): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (!await quiet(sql, ids)) {
      await sleep(2_000);
      continue;
    }
    const [{ now }] = await sql<[{ now: Date }]>`select now()`;
    while (Date.now() < deadline) {
      const [monitor] = await sql<{ checked_at: Date | null }[]>`
        select checked_at from private.dlq_monitor`;
      if (monitor?.checked_at && monitor.checked_at > now) break;
      await sleep(2_000);
    }
    if (await quiet(sql, ids)) return true;
  }
  return false;
}

export interface ReadBack {
  jobs: JobRow[];
  leases: { inProgress: number; workersHoldingJobs: number; recovered: number };
  alerts: AlertRow[];
  posts: SlackPost[];
}

async function alertRows(sql: postgres.Sql): Promise<AlertRow[]> {
  return await sql<AlertRow[]>`
    select id::int, kind, delivered_at is not null as delivered, tries, message->>'text' as text
      from private.alerts order by id`;
}

async function slackPosts(sinkUrl: string): Promise<SlackPost[]> {
  const res = await fetch(`${sinkUrl}/_sink/messages`);
  if (!res.ok) throw new Error(`The Slack sink answered ${res.status} to its message list`);
  const messages = await res.json() as { status: number; body: { text?: string } | null }[];
  return messages.map((m) => ({ status: m.status, text: m.body?.text ?? "" }));
}

export async function readBack(
  sql: postgres.Sql,
  sinkUrl: string,
  ids: string[],
): Promise<ReadBack> {
  const jobs = await sql<JobRow[]>`
    select j.id, j.status,
           coalesce(array(select h.event from public.queue_history h
                           where h.job_id = j.id
                             and h.event in ('completed', 'failed', 'dead_lettered', 'cancelled')
                           order by h.id), '{}') as endings
      from public.jobs j where j.id = any(${ids}::uuid[])`;
  // The leases as every sample counts them, and the stale-lease recoveries of the soak's jobs.
  const { leases, workersHoldingJobs } = await sampleDatabase(sql);
  const [{ recovered }] = await sql<[{ recovered: number }]>`
    select count(*)::int as recovered from public.queue_history
     where event = 'recovered' and job_id = any(${ids}::uuid[])`;
  // Alerts, Slack's posts, alerts again: equal alert reads mean no post or new alert came between.
  for (let tries = 0;; tries++) {
    const before = await alertRows(sql);
    const posts = await slackPosts(sinkUrl);
    const after = await alertRows(sql);
    if (JSON.stringify(before) === JSON.stringify(after) || tries === 10) {
      return {
        jobs,
        leases: { inProgress: leases, workersHoldingJobs, recovered },
        alerts: after,
        posts,
      };
    }
    await sleep(1_000);
  }
}
