/**
 * The DLQ monitor's database calls (see migration 20261122200000_dlq_monitor.sql). The alert
 * policy, its state and the redrive's bookkeeping live in SQL, so concurrent runs and crashes
 * cannot send an alert twice or a job twice.
 */
import type postgres from "postgres";
import type { CompositeTypes, Tables } from "../_shared/database.types.ts";
import type { FunctionRow, Sql } from "../_shared/db.ts";
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
        const [row] = await tx<CompositeTypes<{ schema: "private" }, "dlq_observation">[]>`
          select * from private.observe_dlq(
            ${depth}, ${tx.json(sample as unknown as postgres.JSONValue)})`;
        const observation: Observation = {
          alert: row!.alert as AlertKind | null,
          previousDepth: row!.previous_depth ?? 0,
          incidentSince: row!.incident_since,
          jobs: (row!.jobs ?? []) as Observation["jobs"],
          deadLettered: row!.dead_lettered ?? 0,
        };
        let alertId: number | null = null;
        if (observation.alert) {
          const message = build(observation);
          const [raised] = await tx<{ id: FunctionRow<"private", "raise_alert"> }[]>`
            select private.raise_alert(
              ${observation.alert}, ${tx.json(message as unknown as postgres.JSONValue)}) as id`;
          alertId = raised!.id;
        }
        return { ...observation, alertId };
      });
    },
    async claimDelivery(leaseSeconds) {
      const [row] = await sql<
        { not_before: FunctionRow<"private", "claim_slack_delivery"> | null }[]
      >`select private.claim_slack_delivery(${leaseSeconds}) as not_before`;
      if (!row || row.not_before === null) return null;
      // -infinity (never posted) parses to NaN: no wait.
      const t = Date.parse(row.not_before);
      return { notBefore: Number.isFinite(t) ? t : 0 };
    },
    async releaseDelivery() {
      await sql`select private.release_slack_delivery()`;
    },
    async dueAlerts(max) {
      const rows = await sql<
        Pick<Tables<{ schema: "private" }, "alerts">, "id" | "kind" | "message">[]
      >`
        select id, kind, message from private.due_alerts(${max})`;
      return rows.map((r) => ({
        id: r.id,
        kind: r.kind as AlertKind,
        message: r.message as unknown as SlackMessage,
      }));
    },
    async settle(alertId, result) {
      const retryAfter = result.outcome === "rate_limited" ? result.retryAfterSeconds : null;
      const detail = result.outcome === "delivered" ? null : result.detail;
      await sql`select private.settle_alert(${alertId}, ${result.outcome}, ${retryAfter}, ${detail})`;
    },
    async redrive(dlqMessageId, jobId) {
      // outbox_id is null unless the job was re-queued (generated types cannot say so).
      const [row] = await sql<FunctionRow<"private", "redrive_job">[]>`
        select outcome, outbox_id from private.redrive_job(${dlqMessageId}, ${jobId}::uuid)`;
      return { outcome: row!.outcome as RedriveOutcome, outboxId: row!.outbox_id ?? null };
    },
  };
}
