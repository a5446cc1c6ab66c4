/**
 * The DLQ monitor's database calls (their SQL: supabase/schema.sql, from migration
 * 20261122200000_dlq_monitor.sql). The alert policy, its state and the redrive's bookkeeping live
 * in SQL, so concurrent runs and crashes cannot send an alert twice or a job twice.
 */
import type { CompositeTypes, Tables } from "../_shared/database.types.ts";
import { type Db, type FunctionRow, query, transaction } from "../_shared/db.ts";
import type { AlertKind, SlackMessage } from "./message.ts";
import type { SlackOutcome } from "./slack.ts";

/** What one check of the DLQ decided and did. */
export interface CheckRecord {
  alert: AlertKind | null;
  previousDepth: number;
  incidentSince: string | null;
  /** The sampled jobs the database knows, as they are after this check. */
  jobs: { job_id: string; customer_id: string; status: string; error: string | null }[];
  /** Jobs this check marked failed (dead-lettered). */
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
   * In one transaction: decides the alert for this depth (private.decide_dlq_alert), marks the
   * sampled dead-lettered jobs failed (private.mark_dead_lettered), and stores the alert that
   * `build` makes for the decided kind, if any; so the alert commits with the decision.
   */
  recordCheck(
    depth: number,
    sample: { job_id: string; message_id: string }[],
    build: (record: CheckRecord) => SlackMessage,
  ): Promise<CheckRecord & { alertId: number | null }>;
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
    async recordCheck(depth, sample, build) {
      return await transaction(db, async (tx) => {
        // First: its row lock serializes concurrent checks.
        const [decision] = await query<CompositeTypes<{ schema: "private" }, "dlq_alert_decision">>(
          tx,
          "select alert, previous_depth, incident_since from private.decide_dlq_alert($1)",
          [depth],
        );
        const jobs = await query<FunctionRow<"private", "mark_dead_lettered">>(
          tx,
          "select job_id, customer_id, status, error, marked from private.mark_dead_lettered($1::jsonb)",
          [JSON.stringify(sample)],
        );
        const record: CheckRecord = {
          alert: decision!.alert as AlertKind | null,
          previousDepth: decision!.previous_depth ?? 0,
          incidentSince: decision!.incident_since,
          jobs: jobs.map(({ job_id, customer_id, status, error }) => ({
            job_id,
            customer_id,
            status,
            error,
          })),
          deadLettered: jobs.filter((j) => j.marked).length,
        };
        let alertId: number | null = null;
        if (record.alert) {
          const [raised] = await query<{ id: FunctionRow<"private", "raise_alert"> }>(
            tx,
            "select private.raise_alert($1, $2::jsonb) as id",
            [record.alert, JSON.stringify(build(record))],
          );
          alertId = raised!.id;
        }
        return { ...record, alertId };
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
