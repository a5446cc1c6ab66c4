/**
 * The worker contract as TypeScript types: what the SQL functions return (see
 * docs/worker-contract.md for the same contract from any language) and what the worker needs
 * from SQS. The worker loop depends on these interfaces only, so it is tested with fakes.
 */
import type { Lane } from "../supabase/functions/_shared/lanes.ts";

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
  | { outcome: "not_due"; job_id: string; retry_in_seconds: number }
  /** The customer is at its cap of jobs in progress: send the message again, delayed. */
  | { outcome: "capped"; job_id: string; retry_in_seconds: number };

export type Failure =
  | { outcome: "retrying"; attempt: number; retry_in_seconds: number }
  | { outcome: "failed" | "lease_lost"; attempt: number | null };

/** What a handler last reported, stored on the job and shown by GET /queue/<customer>. */
export interface Progress {
  done: number;
  total: number;
  note?: string;
  attempt: number;
  /** ISO time of the report. */
  at: string;
}

/** One held job in a heartbeat; progress only when it changed since the last beat. */
export interface Beat {
  jobId: string;
  lease: string;
  progress?: Progress;
}

export interface Completion {
  jobId: string;
  lease: string;
  result: unknown;
}

/** The SQL functions of the worker contract (public.claim_jobs and friends). */
export interface JobStore {
  /** claim_jobs: one answer per id, in order. */
  claim(jobIds: string[], workerId: string): Promise<Claim[]>;
  /**
   * heartbeat_jobs: records that the worker is alive (also with no jobs) and says per job, in
   * order, whether its lease still holds.
   */
  heartbeat(workerId: string, beats: Beat[]): Promise<boolean[]>;
  /** complete_jobs: per job, in order, true when completed under its lease. */
  complete(completions: Completion[]): Promise<boolean[]>;
  fail(jobId: string, lease: string, error: string, retryable: boolean): Promise<Failure>;
  release(jobId: string, lease: string, reason: string): Promise<boolean>;
}

export interface QueueMessage {
  body: string;
  receiptHandle: string;
  receiveCount: number;
  /** The lane (queue) it came from: deleting it or changing its visibility goes there. */
  lane: Lane;
}

/** SQS, one queue per priority lane. */
export interface MessageQueue {
  /**
   * Long-polls the lane's queue up to waitSeconds (0: answers at once) for 1..max messages,
   * hidden for visibilitySeconds once received.
   */
  receive(
    lane: Lane,
    max: number,
    waitSeconds: number,
    visibilitySeconds: number,
  ): Promise<QueueMessage[]>;
  /** Deletes the messages, each in its lane (batched, 10 a call). */
  delete(messages: QueueMessage[]): Promise<void>;
  /** Hides the messages for `seconds` more (0: visible again at once); batched, 10 a call. */
  setVisibility(messages: QueueMessage[], seconds: number): Promise<void>;
  /**
   * Sends a new copy of each message to its lane (same body, same customer group), visible after
   * its `delaySeconds`: new messages, with no receives counted yet (batched, 10 a call).
   */
  sendAgain(copies: { message: QueueMessage; delaySeconds: number }[]): Promise<void>;
}

/** What a handler gets beside its job. */
export interface JobContext {
  /**
   * Aborts when the job must stop: its lease was lost, it ran past its timeout, or the worker is
   * shutting down and the grace period is over. The worker stops waiting for the handler then.
   */
  signal: AbortSignal;
  /**
   * Reports progress (for example 2 of 5 directories): it travels with the next heartbeat and
   * GET /queue/<customer> shows it. Throws a RangeError for negative or non-finite numbers.
   */
  progress(done: number, total: number, note?: string): void;
}

/** Does the work. Should stop (reject) promptly when `context.signal` aborts. */
export type JobHandler = (job: ClaimedJob, context: JobContext) => Promise<unknown>;

/** Thrown by a handler for a failure that retrying cannot fix. */
export class PermanentJobError extends Error {
  override name = "PermanentJobError";
}
