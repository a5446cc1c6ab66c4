/**
 * The health rules, in one place (documented in the README):
 * - unhealthy (503): the database does not answer;
 * - degraded (200): stale jobs; pending work and no live worker; SQS unreachable; dead letters
 *   waiting; outbox rows not leaving for 2 minutes; a cron job late or whose last run failed;
 *   an integration reported misconfigured (the Slack webhook, by the DLQ monitor);
 * - healthy (200): none of the above.
 */

import type { CompositeTypes } from "../_shared/database.types.ts";
import type { FunctionRow } from "../_shared/db.ts";
import type { Lane } from "../_shared/lanes.ts";

/** One pg_cron job in the snapshot (type private.cron_job_state). */
export type CronJobState = CompositeTypes<{ schema: "private" }, "cron_job_state">;

/** What private.health_snapshot() returns: counts, misconfigured integrations, cron jobs. */
export type Snapshot = FunctionRow<"private", "health_snapshot">;

export interface QueueDepths {
  /** Every lane's messages together. */
  depth: number;
  /** Each lane's messages (waiting or in flight). */
  lanes: Record<Lane, number>;
  dlqDepth: number | null;
}

export type Probe<T> = { ok: true; value: T; latencyMs: number } | { ok: false };

export type Status = "healthy" | "degraded" | "unhealthy";

/** Seconds between runs for the schedules we use; undefined when it cannot tell. */
export function scheduleSeconds(schedule: string): number | undefined {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 5) return undefined;
  const [minute, hour, dom, month, dow] = fields;
  if (dom !== "*" || month !== "*" || dow !== "*") return undefined;
  if (hour === "*") {
    if (minute === "*") return 60;
    const every = /^\*\/(\d+)$/.exec(minute!);
    if (every) return Number(every[1]) * 60;
    if (/^\d+$/.test(minute!)) return 3600;
    return undefined;
  }
  return /^\d+$/.test(minute!) && /^\d+$/.test(hour!) ? 86_400 : undefined;
}

/** Late: no run for two periods plus a minute of slack. A job that never ran is not late. */
export function isLate(job: CronJobState, now: number): boolean {
  if (!job.active || !job.last_run) return false;
  const period = scheduleSeconds(job.schedule ?? "");
  if (period === undefined) return false;
  return now - Date.parse(job.last_run) > (2 * period + 60) * 1000;
}

export interface Assessment {
  status: Status;
  /** Why the status is not healthy, for people. */
  reasons: string[];
}

export function assess(
  db: Probe<Snapshot>,
  queue: Probe<QueueDepths>,
  now: number,
): Assessment {
  if (!db.ok) return { status: "unhealthy", reasons: ["database is not answering"] };
  const s = db.value;
  const reasons: string[] = [];
  if (s.jobs_stale > 0) reasons.push(`${s.jobs_stale} stale job(s) (no worker heartbeat)`);
  if (s.jobs_pending > 0 && s.workers_active === 0) {
    reasons.push(`${s.jobs_pending} pending job(s) and no live worker`);
  }
  if (s.outbox_waiting > 0) {
    reasons.push(`${s.outbox_waiting} job(s) not sent to SQS for 2 minutes`);
  }
  if (!queue.ok) reasons.push("SQS is not answering");
  else if ((queue.value.dlqDepth ?? 0) > 0) {
    reasons.push(`${queue.value.dlqDepth} message(s) in the dead-letter queue`);
  }
  for (const { name, detail } of s.misconfigured) {
    reasons.push(`${name} is misconfigured${detail ? `: ${detail}` : ""}`);
  }
  for (const job of s.cron_jobs) {
    if (isLate(job, now)) reasons.push(`cron job ${job.name} is late`);
    else if (job.active && job.last_status === "failed") {
      reasons.push(`cron job ${job.name} failed its last run`);
    }
  }
  return { status: reasons.length ? "degraded" : "healthy", reasons };
}
