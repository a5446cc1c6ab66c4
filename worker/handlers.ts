/**
 * The default job handler: a simulated directory submission that takes `durationMs` and fails
 * with probability `failureRate`, so the whole pipeline can be exercised without real directories.
 */
import type { ClaimedJob, JobHandler } from "./contract.ts";

export interface SimulationOptions {
  durationMs: number;
  failureRate: number;
  random?: () => number;
}

export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export function simulatedSubmission(options: SimulationOptions): JobHandler {
  const random = options.random ?? Math.random;
  return async (job: ClaimedJob, signal: AbortSignal) => {
    await abortableSleep(options.durationMs, signal);
    if (random() < options.failureRate) {
      throw new Error("Directory rejected the submission (simulated failure)");
    }
    return { directories_submitted: job.package_size };
  };
}
