/**
 * The DLQ monitor's database calls (their SQL: supabase/schema.sql, from migration
 * 20261122200000_dlq_monitor.sql). The alert policy, its state and the redrive's bookkeeping live
 * in SQL, so concurrent runs and crashes cannot send an alert twice or a job twice.
 */
import type { CompositeTypes, Tables } from "../_shared/database.types.ts";
import { type Db, type DbClient, type FunctionRow, query, transaction } from "../_shared/db.ts";
import type { DeadLetter } from "./dlq.ts";
import type { AlertKind, SlackMessage } from "./message.ts";
import type { SlackOutcome } from "./slack.ts";

/** What was done about a dead letter's job (private.dead_letters.action). */
export type DeadLetterAction =
  | "settled"
  | "resent_since"
  | "finished"
  | "running"
  | "busy"
  | "unknown_job"
  | "not_a_job";

/** The recorded dead letters in brief (private.dead_letter_summary()). */
export interface DeadLetterSummary {
  recorded: number;
  byAction: Partial<Record<DeadLetterAction, number>>;
  customers: { customerId: string; letters: number }[];
  examples: {
    messageId: string;
    jobId: string | null;
    customerId: string | null;
    receiveCount: number;
    action: DeadLetterAction;
    error: string | null;
  }[];
}

/** What the end of one check decided. */
export interface CheckRecord {
  alert: AlertKind | null;
  previousDepth: number;
  incidentSince: string | null;
  /** Rows removed: their messages left the DLQ. */
  pruned: number;
  summary: DeadLetterSummary;
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
  /** The database's clock now: a walk's start, to tell which rows it saw. */
  now(): Promise<string>;
  /**
   * The right to hide DLQ messages for leaseSeconds (a check's walk, or a redrive): the lease, to
   * give back with releaseDlq(); null while another holds it.
   */
  claimDlq(leaseSeconds: number): Promise<string | null>;
  /** Gives the lease back, if it is still the current one. */
  releaseDlq(lease: string): Promise<void>;
  /**
   * Records one batch of a walk and settles the jobs whose last copy is a dead letter
   * (private.record_dead_letters); answers the count per action.
   */
  recordDeadLetters(
    letters: DeadLetter[],
  ): Promise<Partial<Record<DeadLetterAction, number>>>;
  /**
   * In one transaction: removes the rows not seen since `prune.since` less `prune.marginSeconds`
   * (when given), decides the alert for this depth (private.decide_dlq_alert), and stores the alert
   * that `build` makes for the decided kind, if any; so the alert commits with the decision.
   */
  finishCheck(
    depth: number,
    prune: { since: string; marginSeconds: number } | null,
    build: (record: CheckRecord) => SlackMessage,
  ): Promise<CheckRecord & { alertId: number | null }>;
  summary(): Promise<DeadLetterSummary>;
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

interface SummaryRow {
  recorded: number;
  by_action: Partial<Record<DeadLetterAction, number>>;
  customers: { customer_id: string; letters: number }[];
  examples: {
    message_id: string;
    job_id: string | null;
    customer_id: string | null;
    receive_count: number;
    action: DeadLetterAction;
    error: string | null;
  }[];
}

async function summary(db: DbClient): Promise<DeadLetterSummary> {
  const [row] = await query<{ summary: SummaryRow }>(
    db,
    "select private.dead_letter_summary() as summary",
  );
  const s = row!.summary;
  return {
    recorded: s.recorded,
    byAction: s.by_action,
    customers: s.customers.map((c) => ({ customerId: c.customer_id, letters: c.letters })),
    examples: s.examples.map((e) => ({
      messageId: e.message_id,
      jobId: e.job_id,
      customerId: e.customer_id,
      receiveCount: e.receive_count,
      action: e.action,
      error: e.error,
    })),
  };
}

export function sqlMonitorStore(db: Db): MonitorStore {
  return {
    async now() {
      const [row] = await query<{ now: string }>(db, "select now()::text as now");
      return row!.now;
    },
    async claimDlq(leaseSeconds) {
      // As text: the exact value (microseconds) comes back to release it.
      const [row] = await query<{ lease: string | null }>(
        db,
        "select private.claim_dlq($1)::text as lease",
        [leaseSeconds],
      );
      return row?.lease ?? null;
    },
    async releaseDlq(lease) {
      await db.query("select private.release_dlq($1::timestamptz)", [lease]);
    },
    async recordDeadLetters(letters) {
      const rows = await query<FunctionRow<"private", "record_dead_letters">>(
        db,
        "select action, messages from private.record_dead_letters($1::jsonb)",
        [JSON.stringify(letters.map((l) => ({
          message_id: l.messageId,
          job_id: l.jobId ?? null,
          customer_id: l.customerId ?? null,
          receive_count: l.receiveCount,
        })))],
      );
      return Object.fromEntries(rows.map((r) => [r.action, r.messages]));
    },
    async finishCheck(depth, prune, build) {
      return await transaction(db, async (tx) => {
        // First: its row lock serializes concurrent checks.
        const [decision] = await query<CompositeTypes<{ schema: "private" }, "dlq_alert_decision">>(
          tx,
          "select alert, previous_depth, incident_since from private.decide_dlq_alert($1)",
          [depth],
        );
        let pruned = 0;
        if (prune !== null) {
          const [row] = await query<{ pruned: number }>(
            tx,
            `select private.prune_dead_letters($1::timestamptz - make_interval(secs => $2))
                 as pruned`,
            [prune.since, prune.marginSeconds],
          );
          pruned = row!.pruned;
        }
        const record: CheckRecord = {
          alert: decision!.alert as AlertKind | null,
          previousDepth: decision!.previous_depth ?? 0,
          incidentSince: decision!.incident_since,
          pruned,
          summary: await summary(tx),
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
    summary: () => summary(db),
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
