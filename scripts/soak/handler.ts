/**
 * The soak's job handler: what each job does is in its payload (`{"soak": <mode>}`), so the soak
 * knows how every job it enqueued must end.
 * - ok (or no mode: the seed's jobs): a step per directory with progress after each, then a
 *   result (completed);
 * - flaky: fails its first attempt, then works (completed after a retry);
 * - hang: its first attempt hangs past the job timeout, ignoring the abort signal (the worker must
 *   free the slot anyway and fail the attempt), then works (completed after a retry);
 * - reject: a permanent failure (failed at once);
 * - poison: fails every attempt, so SQS moves its message to the DLQ (failed by the DLQ monitor,
 *   which alerts Slack).
 */
import { abortableSleep } from "../../worker/handlers.ts";
import { type JobHandler, PermanentJobError } from "../../worker/mod.ts";

export const MODES = ["ok", "flaky", "hang", "reject", "poison"] as const;
export type Mode = typeof MODES[number];

/** How each mode's job must end: its one terminal event in queue_history. */
export const ENDING: Record<Mode, "completed" | "failed" | "dead_lettered"> = {
  ok: "completed",
  flaky: "completed",
  hang: "completed",
  reject: "failed",
  poison: "dead_lettered",
};

export interface SoakHandlerOptions {
  /** A job's duration, at most: each of its steps sleeps a random share of its part. */
  jobMs: number;
  /** How long a hanging attempt ignores its signal: past the job timeout. */
  hangMs: number;
  random?: () => number;
}

export function modeOf(payload: Record<string, unknown>): Mode {
  const mode = payload.soak;
  return MODES.includes(mode as Mode) ? mode as Mode : "ok";
}

export function soakHandler(options: SoakHandlerOptions): JobHandler {
  const random = options.random ?? Math.random;
  return async (job, { signal, progress }) => {
    const mode = modeOf(job.payload);
    if (mode === "hang" && job.attempt === 1) {
      // Deaf to the abort: only the worker's race against the signal frees the slot.
      await new Promise((resolve) => setTimeout(resolve, options.hangMs));
      return { late: true };
    }
    if (mode === "reject") throw new PermanentJobError("Directory refused the listing (soak)");
    if (mode === "poison") throw new Error("Directory answered 500 (soak poison job)");
    if (mode === "flaky" && job.attempt === 1) throw new Error("Directory timed out (soak)");
    const steps = Math.max(1, job.package_size);
    for (let done = 1; done <= steps; done++) {
      await abortableSleep(Math.round((random() * options.jobMs) / steps), signal);
      progress(done, steps, `directory ${done} of ${steps}`);
    }
    return { directories_submitted: steps };
  };
}
