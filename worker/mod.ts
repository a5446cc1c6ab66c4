/**
 * The worker as a library: import this module to run your own handler in a Deno worker process.
 *
 *   import { runWorker, PermanentJobError } from "<this repository>/worker/mod.ts";
 *   await runWorker(async (job, { signal, progress }) => {
 *     ...;                       // your work; pass `signal` to every call
 *     progress(1, 3, "yelp");    // shown by GET /queue/<customer>
 *     return { ok: true };       // stored as the job's result
 *   });
 *
 * See the README ("Writing a worker") for options, errors, progress, timeouts and shutdown, and
 * examples/directory_submission.ts for a handler that does real I/O.
 */
export { type RunOptions, runWorker } from "./run.ts";
export {
  createWorker,
  JobTimedOut,
  LeaseLost,
  ShuttingDown,
  type Worker,
  type WorkerDeps,
} from "./worker.ts";
export {
  type ClaimedJob,
  type JobContext,
  type JobHandler,
  type JobStore,
  type MessageQueue,
  PermanentJobError,
  type Progress,
} from "./contract.ts";
export { loadConfig, type WorkerConfig } from "./config.ts";
export { sqlJobStore, sqsMessageQueue } from "./stores.ts";
export { abortableSleep } from "./handlers.ts";
