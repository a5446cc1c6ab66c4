/** The reference worker's settings, read once from its env vars. */
import { type Env, requireEnv } from "../supabase/functions/_shared/config.ts";
import { type SqsConfig, sqsConfigFromEnv } from "../supabase/functions/_shared/sqs.ts";

export interface WorkerConfig {
  workerId: string;
  dbUrl: string;
  sqs: SqsConfig;
  heartbeatMs: number;
  visibilitySeconds: number;
  waitSeconds: number;
  /** On SIGTERM, how long a running job may take to finish before it is released. */
  shutdownGraceMs: number;
  handler: { durationMs: number; failureRate: number };
}

function number(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(
      `Cannot start worker: ${name} must be a number from ${min} to ${max}, got '${raw}'`,
    );
  }
  return value;
}

export function loadConfig(env: Env = Deno.env.toObject()): WorkerConfig {
  const heartbeatSeconds = number(env, "HEARTBEAT_SECONDS", 15, 0.1, 300);
  return {
    workerId: env.WORKER_ID?.trim() || `${Deno.hostname()}-${Deno.pid}`,
    dbUrl: requireEnv(env, "worker", "WORKER_DB_URL"),
    sqs: sqsConfigFromEnv(env, "worker"),
    heartbeatMs: heartbeatSeconds * 1000,
    // SQS keeps the message hidden while we work; each heartbeat extends it.
    visibilitySeconds: number(env, "VISIBILITY_TIMEOUT_SECONDS", 60, 1, 43_200),
    waitSeconds: number(env, "RECEIVE_WAIT_SECONDS", 20, 0, 20),
    shutdownGraceMs: number(env, "SHUTDOWN_GRACE_SECONDS", 10, 0, 3600) * 1000,
    handler: {
      durationMs: number(env, "HANDLER_DURATION_MS", 2_000, 0, 3_600_000),
      failureRate: number(env, "HANDLER_FAILURE_RATE", 0, 0, 1),
    },
  };
}
