/**
 * The real implementations of the worker's two dependencies: the SQL functions of the worker
 * contract over node-postgres (as service_role, like supabase.rpc() on hosted Supabase; the same
 * pool as the Edge Functions, see _shared/db.ts for why not postgres.js), and SQS.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { type Db, query } from "../supabase/functions/_shared/db.ts";
import type { Claim, Failure, JobStore, MessageQueue, QueueMessage } from "./contract.ts";

export function sqlJobStore(db: Db): JobStore {
  return {
    async claim(jobId, workerId) {
      const [row] = await query<Claim>(
        db,
        `select outcome, job_id, attempt, lease, customer_id, package_size, priority_level,
                payload, retry_in_seconds
           from public.claim_job($1, $2)`,
        [jobId, workerId],
      );
      return row!;
    },
    async heartbeat(workerId, jobId, lease) {
      const [row] = await query<{ holds: boolean }>(
        db,
        "select public.heartbeat($1, $2, $3) as holds",
        [workerId, jobId ?? null, lease ?? null],
      );
      return row!.holds;
    },
    async complete(jobId, lease, result) {
      const [row] = await query<{ done: boolean }>(
        db,
        "select public.complete_job($1, $2, $3::jsonb) as done",
        [jobId, lease, JSON.stringify(result ?? null)],
      );
      return row!.done;
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

export function sqsMessageQueue(client: SQSClient, queueUrl: string): MessageQueue {
  return {
    async receive(waitSeconds, visibilitySeconds) {
      const out = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: waitSeconds,
          VisibilityTimeout: visibilitySeconds,
          MessageSystemAttributeNames: ["ApproximateReceiveCount"],
        }),
      );
      return (out.Messages ?? []).map((m): QueueMessage => ({
        body: m.Body ?? "",
        receiptHandle: m.ReceiptHandle!,
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
      }));
    },
    async delete(message) {
      await client.send(
        new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.receiptHandle }),
      );
    },
    async setVisibility(message, seconds) {
      await client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: message.receiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
    },
  };
}
