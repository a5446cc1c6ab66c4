/**
 * The real implementations of the worker's two dependencies: the SQL functions of the worker
 * contract over postgres.js (as service_role, like supabase.rpc() on hosted Supabase), and SQS.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type postgres from "postgres";
import type { Claim, Failure, JobStore, MessageQueue, QueueMessage } from "./contract.ts";

export function sqlJobStore(sql: postgres.Sql): JobStore {
  return {
    async claim(jobId, workerId) {
      const [row] = await sql`
        select outcome, job_id::text, attempt, lease::text, customer_id, package_size,
               priority_level, payload, retry_in_seconds
          from public.claim_job(${jobId}, ${workerId})`;
      return row as unknown as Claim;
    },
    async heartbeat(workerId, jobId, lease) {
      const [row] = await sql`
        select public.heartbeat(${workerId}, ${jobId ?? null}, ${lease ?? null}) as holds`;
      return row!.holds as boolean;
    },
    async complete(jobId, lease, result) {
      const [row] = await sql`
        select public.complete_job(${jobId}, ${lease}, ${sql.json(result as postgres.JSONValue)})
          as done`;
      return row!.done as boolean;
    },
    async fail(jobId, lease, error, retryable) {
      const [row] = await sql`
        select outcome, attempt, retry_in_seconds
          from public.fail_job(${jobId}, ${lease}, ${error}, ${retryable})`;
      return row as unknown as Failure;
    },
    async release(jobId, lease, reason) {
      const [row] = await sql`select public.release_job(${jobId}, ${lease}, ${reason}) as released`;
      return row!.released as boolean;
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
