/**
 * The real implementations of the worker's two dependencies: the SQL functions of the worker
 * contract over node-postgres (as service_role, like supabase.rpc() on hosted Supabase; the same
 * pool as the Edge Functions, see _shared/db.ts for why not postgres.js), and SQS.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { type Db, query } from "../supabase/functions/_shared/db.ts";
import { type Lane, laneQueueUrls, LANES } from "../supabase/functions/_shared/lanes.ts";
import { messageGroupOf, parseJobMessage } from "../supabase/functions/_shared/job_message.ts";
import type { Claim, Failure, JobStore, MessageQueue, QueueMessage } from "./contract.ts";

export function sqlJobStore(db: Db): JobStore {
  return {
    async claim(jobIds, workerId) {
      return await query<Claim>(
        db,
        `select outcome, job_id, attempt, lease, customer_id, package_size, priority_level,
                payload, retry_in_seconds
           from public.claim_jobs($1::uuid[], $2)`,
        [jobIds, workerId],
      );
    },
    async heartbeat(workerId, beats) {
      const rows = await query<{ holds: boolean }>(
        db,
        "select holds from public.heartbeat_jobs($1, $2::uuid[], $3::uuid[], $4::jsonb[])",
        [
          workerId,
          beats.map((b) => b.jobId),
          beats.map((b) => b.lease),
          beats.map((b) => (b.progress ? JSON.stringify(b.progress) : null)),
        ],
      );
      return rows.map((row) => row.holds);
    },
    async complete(completions) {
      // One answer per completion, in order.
      const rows = await query<{ done: boolean }>(
        db,
        "select done from public.complete_jobs($1::uuid[], $2::uuid[], $3::jsonb[])",
        [
          completions.map((c) => c.jobId),
          completions.map((c) => c.lease),
          completions.map((c) => JSON.stringify(c.result ?? null)),
        ],
      );
      return rows.map((row) => row.done);
    },
    async fail(jobId, lease, error, retryable) {
      const [row] = await query<Failure>(
        db,
        "select outcome, attempt, retry_in_seconds from public.fail_job($1, $2, $3, $4)",
        [jobId, lease, error, retryable],
      );
      return row!;
    },
    async release(jobId, lease, reason) {
      const [row] = await query<{ released: boolean }>(
        db,
        "select public.release_job($1, $2, $3) as released",
        [jobId, lease, reason],
      );
      return row!.released;
    },
  };
}

/** SQS takes at most 10 entries per batch call. */
const BATCH = 10;

function chunks<T>(items: T[]): T[][] {
  return Array.from(
    { length: Math.ceil(items.length / BATCH) },
    (_, i) => items.slice(i * BATCH, (i + 1) * BATCH),
  );
}

/** A batch call's failed entries are an error, like a failed single call. */
function checkBatch(what: string, failed: { Id?: string; Message?: string }[] | undefined): void {
  if (failed && failed.length > 0) {
    throw new Error(
      `${what}: ${failed.length} entries failed (${failed[0]!.Message ?? "no reason"})`,
    );
  }
}

/** Messages grouped by lane, in batches of 10: one call per batch, each to its lane's queue. */
function perLaneBatches(messages: QueueMessage[]): { lane: Lane; batch: QueueMessage[] }[] {
  return LANES.flatMap((lane) =>
    chunks(messages.filter((m) => m.lane === lane)).map((batch) => ({ lane, batch }))
  );
}

/** queueUrl: the default lane's queue; the others are named after it (see _shared/lanes.ts). */
export function sqsMessageQueue(client: SQSClient, queueUrl: string): MessageQueue {
  const urls = laneQueueUrls(queueUrl);
  return {
    async receive(lane, max, waitSeconds, visibilitySeconds) {
      const out = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: urls[lane],
          MaxNumberOfMessages: max,
          WaitTimeSeconds: waitSeconds,
          VisibilityTimeout: visibilitySeconds,
          MessageSystemAttributeNames: ["ApproximateReceiveCount"],
        }),
      );
      return (out.Messages ?? []).map((m): QueueMessage => ({
        body: m.Body ?? "",
        receiptHandle: m.ReceiptHandle!,
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
        lane,
      }));
    },
    async delete(messages) {
      await Promise.all(
        perLaneBatches(messages).map(async ({ lane, batch }) => {
          const out = await client.send(
            new DeleteMessageBatchCommand({
              QueueUrl: urls[lane],
              Entries: batch.map((m, i) => ({ Id: String(i), ReceiptHandle: m.receiptHandle })),
            }),
          );
          checkBatch("DeleteMessageBatch", out.Failed);
        }),
      );
    },
    async setVisibility(messages, seconds) {
      await Promise.all(
        perLaneBatches(messages).map(async ({ lane, batch }) => {
          const out = await client.send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: urls[lane],
              Entries: batch.map((m, i) => ({
                Id: String(i),
                ReceiptHandle: m.receiptHandle,
                VisibilityTimeout: seconds,
              })),
            }),
          );
          checkBatch("ChangeMessageVisibilityBatch", out.Failed);
        }),
      );
    },
    async sendAgain(copies) {
      const delays = new Map(copies.map((c) => [c.message, c.delaySeconds]));
      await Promise.all(
        perLaneBatches(copies.map((c) => c.message)).map(async ({ lane, batch }) => {
          const out = await client.send(
            new SendMessageBatchCommand({
              QueueUrl: urls[lane],
              Entries: batch.map((m, i) => ({
                Id: String(i),
                MessageBody: m.body,
                DelaySeconds: delays.get(m),
                ...messageGroupOf(parseJobMessage(m.body).customerId),
              })),
            }),
          );
          checkBatch("SendMessageBatch", out.Failed);
        }),
      );
    },
  };
}
