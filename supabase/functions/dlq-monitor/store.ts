/**
 * The DLQ monitor's database calls (see migration 20261122200000_dlq_monitor.sql). The alert
 * policy, its state and the redrive's bookkeeping live in SQL, so concurrent runs and crashes
 * cannot send an alert twice or a job twice.
 */
import type postgres from "postgres";
import type { Sql } from "../_shared/db.ts";
import type { AlertKind, SlackMessage } from "./message.ts";
import type { SlackOutcome } from "./slack.ts";

export interface Observation {
  alert: AlertKind | null;
  previousDepth: number;
  incidentSince: string | null;
  jobs: { job_id: string; customer_id: string; status: string; error: string | null }[];
  deadLettered: number;
}

export interface DueAlert {
  id: number;
  kind: AlertKind;
  message: SlackMessage;
}

export type RedriveOutcome =
  | "requeued"
  | "finished"
  | "running"
  | "already_redriven"
  | "unknown_job";

export interface MonitorStore {
  /**
   * In one transaction: records the check, marks dead-lettered jobs failed, and stores the
   * alert that `build` makes for the decided kind, if any.
   */
  observe(
    depth: number,
    sample: { job_id: string; message_id: string }[],
    build: (o: Observation) => SlackMessage,
  ): Promise<Observation & { alertId: number | null }>;
  /** The right to post for leaseSeconds, with the earliest time to post; null if taken. */
  claimDelivery(leaseSeconds: number): Promise<{ notBefore: number } | null>;
  releaseDelivery(): Promise<void>;
  dueAlerts(max: number): Promise<DueAlert[]>;
  settle(alertId: number, result: SlackOutcome): Promise<void>;
  redrive(
    dlqMessageId: string,
    jobId: string,
  ): Promise<{ outcome: RedriveOutcome; outboxId: number | null }>;
}

export function sqlMonitorStore(sql: Sql): MonitorStore {
  return {
    async observe(depth, sample, build) {
      return await sql.begin(async (tx) => {
        const [row] = await tx<
          {
            alert: AlertKind | null;
            previous_depth: number;
            incident_since: Date | null;
            jobs: Observation["jobs"];
            dead_lettered: number;
          }[]
        >`select * from private.observe_dlq(${depth}, ${
          tx.json(sample as unknown as postgres.JSONValue)
        })`;
        const observation: Observation = {
          alert: row!.alert,
          previousDepth: row!.previous_depth,
          incidentSince: row!.incident_since?.toISOString() ?? null,
          jobs: row!.jobs,
          deadLettered: row!.dead_lettered,
        };
        let alertId: number | null = null;
        if (observation.alert) {
          const message = build(observation);
          const [raised] = await tx<{ id: string }[]>`
            select private.raise_alert(${observation.alert}, ${
            tx.json(message as unknown as postgres.JSONValue)
          }) as id`;
          alertId = Number(raised!.id);
        }
        return { ...observation, alertId };
      });
    },
    async claimDelivery(leaseSeconds) {
      const [row] = await sql<{ not_before: Date | null }[]>`
        select private.claim_slack_delivery(${leaseSeconds}) as not_before`;
      // -infinity (never posted) comes back as an invalid date: no wait.
      if (!row || row.not_before === null) return null;
      const t = row.not_before.getTime();
      return { notBefore: Number.isFinite(t) ? t : 0 };
    },
    async releaseDelivery() {
      await sql`select private.release_slack_delivery()`;
    },
    async dueAlerts(max) {
      const rows = await sql<{ id: string; kind: AlertKind; message: SlackMessage }[]>`
        select id, kind, message from private.due_alerts(${max})`;
      return rows.map((r) => ({ id: Number(r.id), kind: r.kind, message: r.message }));
    },
    async settle(alertId, result) {
      const retryAfter = result.outcome === "rate_limited" ? result.retryAfterSeconds : null;
      const detail = result.outcome === "delivered" ? null : result.detail;
      await sql`select private.settle_alert(${alertId}, ${result.outcome}, ${retryAfter}, ${detail})`;
    },
    async redrive(dlqMessageId, jobId) {
      const [row] = await sql<{ outcome: RedriveOutcome; outbox_id: string | null }[]>`
        select outcome, outbox_id from private.redrive_job(${dlqMessageId}, ${jobId}::uuid)`;
      return {
        outcome: row!.outcome,
        outboxId: row!.outbox_id === null ? null : Number(row!.outbox_id),
      };
    },
  };
}
