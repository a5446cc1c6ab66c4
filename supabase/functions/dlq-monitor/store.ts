/**
 * The DLQ monitor's database calls (see migration 20261122200000_dlq_monitor.sql). The alert
 * policy, its state and the redrive's bookkeeping live in SQL, so concurrent runs and crashes
 * cannot send an alert twice or a job twice.
 */
import type { CompositeTypes, Tables } from "../_shared/database.types.ts";
import { type Db, type FunctionRow, query, transaction } from "../_shared/db.ts";
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

export function sqlMonitorStore(db: Db): MonitorStore {
  return {
    async observe(depth, sample, build) {
      return await transaction(db, async (tx) => {
        const [row] = await query<CompositeTypes<{ schema: "private" }, "dlq_observation">>(
          tx,
          "select * from private.observe_dlq($1, $2::jsonb)",
          [depth, JSON.stringify(sample)],
        );
        const observation: Observation = {
          alert: row!.alert as AlertKind | null,
          previousDepth: row!.previous_depth ?? 0,
          incidentSince: row!.incident_since,
          jobs: (row!.jobs ?? []) as Observation["jobs"],
          deadLettered: row!.dead_lettered ?? 0,
        };
        let alertId: number | null = null;
        if (observation.alert) {
          const [raised] = await query<{ id: FunctionRow<"private", "raise_alert"> }>(
            tx,
            "select private.raise_alert($1, $2::jsonb) as id",
            [observation.alert, JSON.stringify(build(observation))],
          );
          alertId = raised!.id;
        }
        return { ...observation, alertId };
      });
    },
    async claimDelivery(leaseSeconds) {
      const [row] = await query<
        { not_before: FunctionRow<"private", "claim_slack_delivery"> | null }
      >(
        db,
        "select private.claim_slack_delivery($1) as not_before",
        [leaseSeconds],
      );
      if (!row || row.not_before === null) return null;
      // -infinity (never posted) parses to NaN: no wait.
      const t = Date.parse(row.not_before);
      return { notBefore: Number.isFinite(t) ? t : 0 };
    },
    async releaseDelivery() {
      await db.query("select private.release_slack_delivery()");
    },
    async dueAlerts(max) {
      const rows = await query<
        Pick<Tables<{ schema: "private" }, "alerts">, "id" | "kind" | "message">
      >(
        db,
        "select id, kind, message from private.due_alerts($1)",
        [max],
      );
      return rows.map((r) => ({
        id: r.id,
        kind: r.kind as AlertKind,
        message: r.message as unknown as SlackMessage,
      }));
    },
    async settle(alertId, result) {
      const retryAfter = result.outcome === "rate_limited" ? result.retryAfterSeconds : null;
      const detail = result.outcome === "delivered" ? null : result.detail;
      await db.query("select private.settle_alert($1, $2, $3, $4)", [
        alertId,
        result.outcome,
        retryAfter,
        detail,
      ]);
    },
    async redrive(dlqMessageId, jobId) {
      // outbox_id is null unless the job was re-queued (generated types cannot say so).
      const [row] = await query<FunctionRow<"private", "redrive_job">>(
        db,
        "select outcome, outbox_id from private.redrive_job($1, $2::uuid)",
        [dlqMessageId, jobId],
      );
      return { outcome: row!.outcome as RedriveOutcome, outboxId: row!.outbox_id ?? null };
    },
  };
}
