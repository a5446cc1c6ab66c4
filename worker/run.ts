/**
 * runWorker(handler): a whole worker process around your handler, configured from env vars (see
 * docs/configuration.md): the database pool, the SQS client, the loop, and a clean stop on SIGTERM
 * / SIGINT (running jobs finish within the grace period or are released).
 */
import { SQSClient } from "@aws-sdk/client-sqs";
import { createDb } from "../supabase/functions/_shared/db.ts";
import { loadConfig, type WorkerConfig } from "./config.ts";
import type { ClaimedJob, JobHandler } from "./contract.ts";
import { sqlJobStore, sqsMessageQueue } from "./stores.ts";
import { createWorker } from "./worker.ts";

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
  const db = createDb(config.dbUrl, { max: 4 });
  // Not _shared/sqs.ts createSqsClient(): its 3 s request timeout, right for the functions'
  // short calls, would cut the worker's 20 s long polls off.
  const sqs = new SQSClient({
    region: config.sqs.region,
    endpoint: config.sqs.endpoint,
    credentials: config.sqs.credentials,
  });
  const log = options.log ?? ((line: string) => console.log(`[${config.workerId}] ${line}`));
  const worker = createWorker({
    workerId: config.workerId,
    jobs: sqlJobStore(db),
    queue: sqsMessageQueue(sqs, config.sqs.queueUrl),
    handler,
    concurrency: config.concurrency,
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

  log(`worker ${config.workerId} ready (concurrency ${config.concurrency})`);
  await worker.run();
}
