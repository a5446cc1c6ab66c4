/**
 * Drains the transactional outbox to SQS. Due rows are locked (skip locked) for the length of
 * one transaction, sent with SendMessageBatch (10 per call, SQS's limit), then marked delivered,
 * or scheduled for a later try with backoff when SQS refused them. Two drains running at once
 * never take the same row. A crash after SQS accepted a batch but before the commit sends those
 * rows again later: delivery is at least once, and claim_job's lease makes a duplicate harmless.
 */
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { type Db, type DbClient, type FunctionRow, query, transaction } from "./db.ts";
import { encodeJobMessage, messageGroupOf } from "./job_message.ts";
import { type Lane, laneOf, LANES } from "./lanes.ts";

export type OutboxRow = FunctionRow<"private", "take_outbox">;

/** By outbox id. */
export interface BatchResult {
  delivered: { id: number; messageId: string }[];
  failed: { id: number; error: string }[];
}

/** Sends up to 10 rows; never throws (a failed call fails every row in it). */
export type SendBatch = (rows: OutboxRow[]) => Promise<BatchResult>;

export const SQS_BATCH_SIZE = 10;

/**
 * Sends each row to its lane's queue (one SendMessageBatch per lane the rows name). Each message
 * carries its customer as MessageGroupId (see messageGroupOf).
 */
export function sqsBatchSender(client: SQSClient, queueUrls: Record<Lane, string>): SendBatch {
  const sendLane = async (lane: Lane, rows: OutboxRow[]): Promise<BatchResult> => {
    try {
      const out = await client.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrls[lane],
          Entries: rows.map((row) => ({
            Id: String(row.outbox_id),
            MessageBody: encodeJobMessage({ jobId: row.job_id, customerId: row.customer_id }),
            ...messageGroupOf(row.customer_id),
          })),
        }),
      );
      return {
        delivered: (out.Successful ?? []).map((s) => ({
          id: Number(s.Id),
          messageId: s.MessageId!,
        })),
        failed: (out.Failed ?? []).map((f) => ({
          id: Number(f.Id),
          error: `${f.Code ?? "Error"}: ${f.Message ?? "rejected"}`,
        })),
      };
    } catch (error) {
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return { delivered: [], failed: rows.map((row) => ({ id: row.outbox_id, error: reason })) };
    }
  };
  return async (rows) => {
    const results = await Promise.all(
      LANES.map((lane) => rows.filter((row) => laneOf(row.lane) === lane))
        .map((laneRows, i) => laneRows.length > 0 ? sendLane(LANES[i]!, laneRows) : undefined),
    );
    return {
      delivered: results.flatMap((r) => r?.delivered ?? []),
      failed: results.flatMap((r) => r?.failed ?? []),
    };
  };
}

/** Rows of one lane next to each other, so a batch of 10 is one SendMessageBatch call. */
function byLane(rows: OutboxRow[]): OutboxRow[] {
  const rank = (row: OutboxRow) => LANES.indexOf(laneOf(row.lane));
  return [...rows].sort((a, b) => rank(a) - rank(b));
}

/** Marks sent rows delivered and schedules refused ones for a later try (one round trip). */
export async function settleOutbox(
  db: Pick<DbClient, "query">,
  result: BatchResult,
): Promise<void> {
  await db.query("select private.settle_outbox($1::bigint[], $2::text[], $3::bigint[], $4)", [
    result.delivered.map((d) => d.id),
    result.delivered.map((d) => d.messageId),
    result.failed.map((f) => f.id),
    result.failed[0]?.error ?? null,
  ]);
}

export interface DrainResult {
  taken: number;
  sent: number;
  failed: number;
}

export async function drainOutbox(
  db: Db,
  send: SendBatch,
  options: { limit: number; onlyIds?: number[] },
): Promise<DrainResult> {
  return await transaction(db, async (tx) => {
    const rows = await query<OutboxRow>(
      tx,
      `select outbox_id, job_id, customer_id, tries, lane
         from private.take_outbox($1, $2::bigint[])`,
      [options.limit, options.onlyIds ?? null],
    ).then(byLane);
    const delivered: BatchResult["delivered"] = [];
    const failed: BatchResult["failed"] = [];
    for (let i = 0; i < rows.length; i += SQS_BATCH_SIZE) {
      const result = await send(rows.slice(i, i + SQS_BATCH_SIZE));
      delivered.push(...result.delivered);
      failed.push(...result.failed);
    }
    if (rows.length > 0) await settleOutbox(tx, { delivered, failed });
    if (failed.length > 0) {
      console.error(
        `outbox: ${failed.length} message(s) not sent, will retry: ${failed[0]!.error}`,
      );
    }
    return { taken: rows.length, sent: delivered.length, failed: failed.length };
  });
}

/**
 * Sends these outbox rows now, for a caller that wants its jobs on their way at once (a new
 * job, a redriven one). Never throws: on failure it logs, and the rows stay due for the
 * scheduled dispatch (pg_cron), which sends whatever this could not.
 */
export async function dispatchSoon(
  db: Db,
  send: SendBatch,
  outboxIds: number[],
  log: (line: string) => void,
): Promise<void> {
  if (outboxIds.length === 0) return;
  try {
    await drainOutbox(db, send, { limit: outboxIds.length, onlyIds: outboxIds });
  } catch (error) {
    log(`outbox: row(s) ${outboxIds.join(", ")} left to the scheduled dispatch: ${error}`);
  }
}
