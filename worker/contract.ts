/**
 * The worker contract as TypeScript types: what the SQL functions return (see
 * docs/worker-contract.md for the same contract from any language) and what the worker needs
 * from SQS. The worker loop depends on these interfaces only, so it is tested with fakes.
 */

export interface ClaimedJob {
  job_id: string;
  attempt: number;
  lease: string;
  customer_id: string;
  package_size: number;
  priority_level: number;
  payload: Record<string, unknown>;
}

export type Claim =
  | ({ outcome: "claimed" } & ClaimedJob)
  | { outcome: "unknown_job" | "finished" | "leased"; job_id: string }
  | { outcome: "not_due"; job_id: string; retry_in_seconds: number };

export type Failure =
  | { outcome: "retrying"; attempt: number; retry_in_seconds: number }
  | { outcome: "failed" | "lease_lost"; attempt: number | null };

/** The SQL functions of the worker contract (public.claim_job and friends). */
export interface JobStore {
  claim(jobId: string, workerId: string): Promise<Claim>;
  /** True while the lease holds; with no job, records that the worker is alive. */
  heartbeat(workerId: string, jobId?: string, lease?: string): Promise<boolean>;
  complete(jobId: string, lease: string, result: unknown): Promise<boolean>;
  fail(jobId: string, lease: string, error: string, retryable: boolean): Promise<Failure>;
  release(jobId: string, lease: string, reason: string): Promise<boolean>;
}

export interface QueueMessage {
  body: string;
  receiptHandle: string;
  receiveCount: number;
}

export interface MessageQueue {
  /** Long-polls up to waitSeconds for one message, hidden for visibilitySeconds once received. */
  receive(waitSeconds: number, visibilitySeconds: number): Promise<QueueMessage[]>;
  delete(message: QueueMessage): Promise<void>;
  /** Hides the message for `seconds` more (0: visible again at once). */
  setVisibility(message: QueueMessage, seconds: number): Promise<void>;
}

/** Does the work. Must stop (reject) promptly when `signal` aborts. */
export type JobHandler = (job: ClaimedJob, signal: AbortSignal) => Promise<unknown>;

/** Thrown by a handler for a failure that retrying cannot fix. */
export class PermanentJobError extends Error {
  override name = "PermanentJobError";
}
