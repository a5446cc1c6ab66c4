/**
 * runWorker(handler): a whole worker process around your handler, configured from env vars (see
 * docs/configuration.md): the database pool, the SQS client, the loop, and a clean stop on SIGTERM
 * / SIGINT (running jobs finish within the grace period or are released).
 */
import { createDb } from "../supabase/functions/_shared/db.ts";
import { createSqsClient } from "../supabase/functions/_shared/sqs.ts";
import { loadConfig, type WorkerConfig } from "./config.ts";
import type { ClaimedJob, JobHandler } from "./contract.ts";
import { sqlJobStore, sqsMessageQueue } from "./stores.ts";
import { createWorker } from "./worker.ts";

/** A database or SQS call that takes longer has failed (and is tried again where that is safe). */
const CALL_TIMEOUT_MS = 15_000;

export interface RunOptions {
  /** Defaults to loadConfig() of the process's env vars. */
  config?: WorkerConfig;
  /** A job's time limit in ms, per job; default JOB_TIMEOUT_SECONDS for every job. */
  jobTimeoutMs?: (job: ClaimedJob) => number;
  log?(line: string): void;
}

/** Runs until SIGTERM or SIGINT (or stdin closing, with EXIT_WHEN_STDIN_CLOSES=1), then exits. */
export async function runWorker(handler: JobHandler, options: RunOptions = {}): Promise<void> {
  const config = options.config ?? loadConfig();
  // Heartbeat, claim and two gathered completions at most at once, plus failures and releases.
  // Every call has a time limit: one that hangs (a half-open connection) must not hold the
  // heartbeat, or every lease would go stale.
  const db = createDb(config.dbUrl, { max: 4, queryTimeoutMs: CALL_TIMEOUT_MS });
  // Long polls take up to waitSeconds; every other call is short.
  const sqs = createSqsClient(config.sqs, config.waitSeconds * 1000 + CALL_TIMEOUT_MS);
  const log = options.log ?? ((line: string) => console.log(`[${config.workerId}] ${line}`));
  const worker = createWorker({
    workerId: config.workerId,
    jobs: sqlJobStore(db),
    queue: sqsMessageQueue(sqs, config.sqs.queueUrl),
    handler,
    concurrency: config.concurrency,
    lanes: config.lanes,
    laneShare: config.laneShare,
    jobTimeoutMs: options.jobTimeoutMs ?? config.jobTimeoutMs,
    heartbeatMs: config.heartbeatMs,
    visibilitySeconds: config.visibilitySeconds,
    waitSeconds: config.waitSeconds,
    shutdownGraceMs: config.shutdownGraceMs,
    log,
  });

  let exiting = false;
  const exit = async () => {
    if (exiting) return;
    exiting = true;
    log("shutting down");
    await worker.shutdown();
    await db.end();
    sqs.destroy();
    log("stopped");
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", exit);
  Deno.addSignalListener("SIGINT", exit);
  // Started by the local stack: stdin closing means the stack is going away.
  if (Deno.env.get("EXIT_WHEN_STDIN_CLOSES") === "1") {
    (async () => {
      const buffer = new Uint8Array(64);
      while ((await Deno.stdin.read(buffer)) !== null) { /* wait for end of file */ }
      await exit();
    })();
  }

  log(
    `worker ${config.workerId} ready (concurrency ${config.concurrency}, lanes ${
      config.lanes.join(", ")
    })`,
  );
  await worker.run();
}
