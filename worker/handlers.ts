/**
 * The default job handler: a simulated directory submission that takes `durationMs`, one step per
 * directory (`package_size` of them) with progress after each, and fails with probability
 * `failureRate`, so the whole pipeline can be exercised without real directories.
 */
import type { JobHandler } from "./contract.ts";

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
  return async (job, { signal, progress }) => {
    const steps = Math.max(1, job.package_size);
    for (let done = 1; done <= steps; done++) {
      // 0 ms: an instant handler (the benchmarks'), without even a timer.
      if (options.durationMs > 0) await abortableSleep(options.durationMs / steps, signal);
      progress(done, steps, `directory ${done} of ${steps}`);
    }
    if (random() < options.failureRate) {
      throw new Error("Directory rejected the submission (simulated failure)");
    }
    return { directories_submitted: job.package_size };
  };
}
