/**
 * `deno task worker`: the reference worker. Wiring only (see worker.ts); SIGTERM / SIGINT (or the
 * local stack closing our stdin) finish or release the running jobs, then exit.
 */
import { createDb } from "../supabase/functions/_shared/db.ts";
import { SQSClient } from "@aws-sdk/client-sqs";
import { loadConfig } from "./config.ts";
import { simulatedSubmission } from "./handlers.ts";
import { sqlJobStore, sqsMessageQueue } from "./stores.ts";
import { createWorker } from "./worker.ts";

const config = loadConfig();
// Heartbeat, claim and two gathered completions at most at once, plus failures and releases.
const db = createDb(config.dbUrl, { max: 4 });
// Not _shared/sqs.ts createSqsClient(): its 3 s request timeout, right for the functions'
// short calls, would cut the worker's 20 s long polls off.
const sqs = new SQSClient({
  region: config.sqs.region,
  endpoint: config.sqs.endpoint,
  credentials: config.sqs.credentials,
});
const log = (line: string) => console.log(`[${config.workerId}] ${line}`);
const worker = createWorker({
  workerId: config.workerId,
  jobs: sqlJobStore(db),
  queue: sqsMessageQueue(sqs, config.sqs.queueUrl),
  handler: simulatedSubmission(config.handler),
  concurrency: config.concurrency,
  jobTimeoutMs: config.jobTimeoutMs,
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

console.log(`worker ${config.workerId} ready`);
await worker.run();
