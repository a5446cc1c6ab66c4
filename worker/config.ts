/** The reference worker's settings, read once from its env vars. */
import { type Env, numberEnv, requireEnv } from "../supabase/functions/_shared/config.ts";
import { type SqsConfig, sqsConfigFromEnv } from "../supabase/functions/_shared/sqs.ts";
import { isLane, type Lane, LANES } from "../supabase/functions/_shared/lanes.ts";

export interface WorkerConfig {
  workerId: string;
  dbUrl: string;
  sqs: SqsConfig;
  /** Jobs in flight at once in this process. */
  concurrency: number;
  /** The lanes it receives from, highest first. */
  lanes: Lane[];
  /** Share of the slots each lower lane keeps while it has work. */
  laneShare: number;
  /** A job running longer is aborted and fails as retryable. */
  jobTimeoutMs: number;
  heartbeatMs: number;
  visibilitySeconds: number;
  waitSeconds: number;
  /** On SIGTERM, how long a running job may take to finish before it is released. */
  shutdownGraceMs: number;
  handler: { durationMs: number; failureRate: number };
}

/** WORKER_LANES: a comma-separated subset of the lanes (default all), kept highest first. */
function lanesEnv(env: Env, fn: string): Lane[] {
  const raw = env.WORKER_LANES?.trim();
  if (!raw) return [...LANES];
  const asked = raw.split(",").map((lane) => lane.trim());
  const unknown = asked.find((lane) => !isLane(lane));
  if (unknown !== undefined) {
    throw new Error(
      `Cannot start ${fn}: WORKER_LANES names '${unknown}'; lanes: ${LANES.join(", ")}`,
    );
  }
  return LANES.filter((lane) => asked.includes(lane));
}

export function loadConfig(env: Env = Deno.env.toObject()): WorkerConfig {
  const fn = "worker";
  const heartbeatSeconds = numberEnv(env, fn, "HEARTBEAT_SECONDS", 15, { min: 0.1, max: 300 });
  return {
    workerId: env.WORKER_ID?.trim() || `${Deno.hostname()}-${Deno.pid}`,
    dbUrl: requireEnv(env, fn, "WORKER_DB_URL"),
    sqs: sqsConfigFromEnv(env, fn),
    concurrency: numberEnv(env, fn, "WORKER_CONCURRENCY", 10, { min: 1, max: 1000 }),
    lanes: lanesEnv(env, fn),
    laneShare: numberEnv(env, fn, "WORKER_LANE_SHARE", 0.2, { min: 0, max: 0.5 }),
    jobTimeoutMs: 1000 * numberEnv(env, fn, "JOB_TIMEOUT_SECONDS", 1800, { min: 1, max: 86_400 }),
    heartbeatMs: heartbeatSeconds * 1000,
    // SQS keeps the message hidden while we work; each heartbeat extends it.
    visibilitySeconds: numberEnv(env, fn, "VISIBILITY_TIMEOUT_SECONDS", 60, {
      min: 1,
      max: 43_200,
    }),
    waitSeconds: numberEnv(env, fn, "RECEIVE_WAIT_SECONDS", 20, { min: 0, max: 20 }),
    shutdownGraceMs: 1000 * numberEnv(env, fn, "SHUTDOWN_GRACE_SECONDS", 10, { min: 0, max: 3600 }),
    handler: {
      durationMs: numberEnv(env, fn, "HANDLER_DURATION_MS", 2_000, { min: 0, max: 3_600_000 }),
      failureRate: numberEnv(env, fn, "HANDLER_FAILURE_RATE", 0, { min: 0, max: 1 }),
    },
  };
}
