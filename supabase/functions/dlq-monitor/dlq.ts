/**
 * The dead-letter queue as the monitor and the redrive see it: its depth, a peek that leaves
 * messages where they are (received with a visibility timeout of 0), receive and visibility
 * changes for the monitor's walk, and delete for the redrive. Messages carry
 * `{"job_id", "customer_id"}` (see _shared/job_message.ts).
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { parseJobMessage } from "../_shared/job_message.ts";
import { type QueueDepth, queueDepth } from "../_shared/sqs.ts";

export interface DeadLetter {
  messageId: string;
  receiptHandle: string;
  /** The job the message names, when its body is one of ours. */
  jobId?: string;
  customerId?: string;
  /** How often SQS handed the message out, counted from its first send. */
  receiveCount: number;
}

export interface DeadLetterQueue {
  name: string;
  url: string;
  depth(): Promise<QueueDepth>;
  /** Up to `max` (at most 10) messages, left visible: nothing is consumed. */
  peek(max: number): Promise<DeadLetter[]>;
  /**
   * Up to `max` (at most 10) messages, hidden for visibilitySeconds. With waitSeconds > 0 an
   * empty answer means the queue has nothing visible (a short poll samples only some servers).
   */
  receive(max: number, visibilitySeconds: number, waitSeconds?: number): Promise<DeadLetter[]>;
  /** Up to 10 messages visible again after `seconds` (0: at once). */
  setVisibility(messages: DeadLetter[], seconds: number): Promise<void>;
  delete(message: DeadLetter): Promise<void>;
}

/**
 * One reader that hides DLQ messages at a time (a check's walk or a redrive): two would hide
 * messages from each other. Held for the reader's budget plus a minute to finish up; a reader that
 * dies holding it lets it lapse.
 */
export function dlqLeaseSeconds(budgetMs: number): number {
  return Math.ceil(budgetMs / 1000) + 60;
}

/** Another check or redrive holds the DLQ (see dlqLeaseSeconds). */
export class DlqBusy extends Error {
  override name = "DlqBusy";
}

/**
 * Runs `work` holding the DLQ for budgetMs (plus a minute); undefined when another reader holds
 * it. A release that fails is left to lapse: the work's own result or error matters more.
 */
export async function holdingDlq<T>(
  lease: {
    claimDlq(leaseSeconds: number): Promise<string | null>;
    releaseDlq(lease: string): Promise<void>;
  },
  budgetMs: number,
  work: () => Promise<T>,
): Promise<T | undefined> {
  const held = await lease.claimDlq(dlqLeaseSeconds(budgetMs));
  if (held === null) return undefined;
  try {
    return await work();
  } finally {
    await lease.releaseDlq(held).catch(() => {});
  }
}

export function queueNameOf(url: string): string {
  return url.replace(/\/+$/, "").split("/").pop() ?? url;
}

export function sqsDeadLetterQueue(sqs: SQSClient, url: string): DeadLetterQueue {
  async function receive(
    max: number,
    visibilitySeconds: number,
    waitSeconds = 0,
  ): Promise<DeadLetter[]> {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: Math.max(1, Math.min(10, max)),
        VisibilityTimeout: visibilitySeconds,
        WaitTimeSeconds: waitSeconds,
        MessageSystemAttributeNames: ["ApproximateReceiveCount"],
      }),
    );
    return (out.Messages ?? []).map((m) => ({
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
      ...parseJobMessage(m.Body),
    }));
  }
  return {
    name: queueNameOf(url),
    url,
    depth: () => queueDepth(sqs, url),
    peek: (max) => receive(max, 0),
    receive,
    async setVisibility(messages, seconds) {
      if (messages.length === 0) return;
      // An entry of a message deleted meanwhile (by a redrive) fails: nothing left to show.
      await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: url,
          Entries: messages.map((m, i) => ({
            Id: String(i),
            ReceiptHandle: m.receiptHandle,
            VisibilityTimeout: seconds,
          })),
        }),
      );
    },
    async delete(message) {
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message.receiptHandle }),
      );
    },
  };
}

/** SQS takes at most 10 entries per batch change. */
const BATCH = 10;
/** Visibility changes under way at once. */
const PARALLEL = 4;

/** Makes the messages visible again at once; answers the SQS calls it took. */
export async function showAgain(dlq: DeadLetterQueue, messages: DeadLetter[]): Promise<number> {
  const chunks = Array.from(
    { length: Math.ceil(messages.length / BATCH) },
    (_, i) => messages.slice(i * BATCH, (i + 1) * BATCH),
  );
  for (let i = 0; i < chunks.length; i += PARALLEL) {
    await Promise.all(chunks.slice(i, i + PARALLEL).map((chunk) => dlq.setVisibility(chunk, 0)));
  }
  return chunks.length;
}
