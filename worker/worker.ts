/**
 * The reference worker loop: long-poll `jobs`, claim the job named in each message, heartbeat
 * (database lease and SQS visibility in step), run the handler, then complete or fail under the
 * lease. Postgres decides; the message is only a reminder:
 * - a duplicate of a finished, unknown or otherwise-held job is acknowledged (deleted);
 * - a retry keeps the message, hidden until the retry is due (SQS counts the receive, so a job
 *   that keeps failing ends up in jobs-dlq after maxReceiveCount);
 * - a lost lease (the job was recovered) stops the handler at once and the worker lets go.
 * On shutdown the running job gets `shutdownGraceMs` to finish, then is released; a long poll
 * under way is let finish (at most `waitSeconds`) and whatever it received is handed back.
 */
import type {
  Claim,
  ClaimedJob,
  JobHandler,
  JobStore,
  MessageQueue,
  QueueMessage,
} from "./contract.ts";
import { PermanentJobError } from "./contract.ts";
import { parseJobMessage } from "../supabase/functions/_shared/job_message.ts";

export interface WorkerDeps {
  workerId: string;
  jobs: JobStore;
  queue: MessageQueue;
  handler: JobHandler;
  heartbeatMs: number;
  visibilitySeconds: number;
  waitSeconds: number;
  shutdownGraceMs: number;
  log(line: string): void;
}

export interface Worker {
  /** Runs until shutdown() has been called and the current job is settled. */
  run(): Promise<void>;
  shutdown(): Promise<void>;
}

class LeaseLost extends Error {
  override name = "LeaseLost";
}
class ShuttingDown extends Error {
  override name = "ShuttingDown";
}

const MAX_VISIBILITY = 43_200;

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export function createWorker(deps: WorkerDeps): Worker {
  const { jobs, queue, log, workerId } = deps;
  const stopping = new AbortController();
  let current: { abort: AbortController; finished: Promise<void> } | undefined;
  let loop: Promise<void> | undefined;

  const quietly = async (what: string, action: () => Promise<unknown>) => {
    try {
      await action();
    } catch (error) {
      log(`${what} failed: ${describe(error)}`);
    }
  };

  async function work(
    message: QueueMessage,
    job: ClaimedJob,
    abort: AbortController,
  ): Promise<void> {
    let beating: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      beating = beating.then(async () => {
        try {
          const holds = await jobs.heartbeat(workerId, job.job_id, job.lease);
          if (!holds) {
            abort.abort(new LeaseLost(`lease on ${job.job_id} was lost`));
            return;
          }
          await queue.setVisibility(message, deps.visibilitySeconds);
        } catch (error) {
          // Keep working: the lease may well still hold. If it does not, a later beat says so.
          log(`heartbeat for ${job.job_id} failed: ${describe(error)}`);
        }
      });
    }, deps.heartbeatMs);
    let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, result: await deps.handler(job, abort.signal) };
    } catch (error) {
      outcome = { ok: false, error };
    } finally {
      clearInterval(timer);
      await beating;
    }

    const reason = abort.signal.reason;
    if (reason instanceof LeaseLost) {
      log(`job ${job.job_id}: lease lost, stopped and let go`);
      await quietly("delete", () => queue.delete(message));
      return;
    }
    if (reason instanceof ShuttingDown) {
      const released = await jobs.release(job.job_id, job.lease, "worker shutting down");
      log(`job ${job.job_id}: ${released ? "released" : "lease already lost"} on shutdown`);
      // Visible again at once, so another worker picks it up.
      await quietly("release message", () => queue.setVisibility(message, 0));
      return;
    }
    if (outcome.ok) {
      const done = await jobs.complete(job.job_id, job.lease, outcome.result ?? null);
      log(`job ${job.job_id}: ${done ? "completed" : "lease lost before completion"}`);
      await quietly("delete", () => queue.delete(message));
      return;
    }
    const retryable = !(outcome.error instanceof PermanentJobError);
    const message_ = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    const failure = await jobs.fail(job.job_id, job.lease, message_, retryable);
    if (failure.outcome === "retrying") {
      log(
        `job ${job.job_id}: attempt ${failure.attempt} failed, retry in ${failure.retry_in_seconds}s`,
      );
      await quietly(
        "delay message",
        () => queue.setVisibility(message, Math.min(MAX_VISIBILITY, failure.retry_in_seconds)),
      );
    } else {
      log(`job ${job.job_id}: ${failure.outcome === "failed" ? "failed for good" : "lease lost"}`);
      await quietly("delete", () => queue.delete(message));
    }
  }

  async function handleMessage(message: QueueMessage): Promise<void> {
    const { jobId } = parseJobMessage(message.body);
    if (!jobId) {
      // Not a job message (or its job id is no UUID): leave it; after maxReceiveCount SQS moves
      // it to the DLQ for a human.
      log(`ignoring a message that names no job (receive ${message.receiveCount})`);
      return;
    }
    let claim: Claim;
    try {
      claim = await jobs.claim(jobId, workerId);
    } catch (error) {
      // The database is unreachable: the message comes back after its visibility timeout.
      log(`claim of ${jobId} failed: ${describe(error)}`);
      return;
    }
    switch (claim.outcome) {
      case "claimed": {
        log(`job ${jobId}: claimed (attempt ${claim.attempt})`);
        const abort = new AbortController();
        const finished = work(message, claim, abort);
        current = { abort, finished };
        try {
          await finished;
        } finally {
          current = undefined;
        }
        return;
      }
      case "not_due":
        await queue.setVisibility(message, Math.min(MAX_VISIBILITY, claim.retry_in_seconds));
        return;
      default:
        // Finished, unknown, or held by a live lease: this delivery is a duplicate.
        log(`job ${jobId}: ${claim.outcome}, message acknowledged`);
        await queue.delete(message);
    }
  }

  async function runLoop(): Promise<void> {
    let lastIdleBeat = 0;
    while (!stopping.signal.aborted) {
      if (Date.now() - lastIdleBeat >= deps.heartbeatMs) {
        lastIdleBeat = Date.now();
        await quietly("heartbeat", () => jobs.heartbeat(workerId));
      }
      let messages: QueueMessage[];
      try {
        // Not aborted on shutdown: a long poll cut off mid-way can still take a message on the
        // server, hiding it for the visibility timeout. We let it finish and hand back what it got.
        messages = await queue.receive(deps.waitSeconds, deps.visibilitySeconds);
      } catch (error) {
        if (stopping.signal.aborted) break;
        log(`receive failed: ${describe(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        continue;
      }
      for (const message of messages) {
        if (stopping.signal.aborted) {
          await quietly("return message", () => queue.setVisibility(message, 0));
          continue;
        }
        try {
          await handleMessage(message);
        } catch (error) {
          log(`message left for redelivery: ${describe(error)}`);
        }
      }
    }
  }

  return {
    run() {
      loop ??= runLoop();
      return loop;
    },
    async shutdown() {
      stopping.abort(new ShuttingDown("worker shutting down"));
      const running = current;
      if (running) {
        const grace = new Promise<"timeout">((resolve) => {
          const t = setTimeout(() => resolve("timeout"), deps.shutdownGraceMs);
          running.finished.finally(() => clearTimeout(t));
        });
        if (
          (await Promise.race([running.finished.then(() => "done" as const), grace])) === "timeout"
        ) {
          running.abort.abort(new ShuttingDown("worker shutting down"));
        }
      }
      await loop;
    },
  };
}
