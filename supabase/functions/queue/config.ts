/** The queue function's settings, read once from its env vars. */
import { type Env, intEnv, requireEnv } from "../_shared/config.ts";
import { type JwtConfig, jwtConfigFromEnv, serviceKeysFromEnv } from "../_shared/auth.ts";
import { jobsPolicyFromEnv, type Policy } from "../_shared/ratelimit/policy.ts";
import { type RateLimitConfig, rateLimitConfigFromEnv } from "../_shared/ratelimit/setup.ts";
import type { QueueLimits } from "./handler.ts";
import { type SqsConfig, sqsConfigFromEnv } from "../_shared/sqs.ts";

export interface QueueConfig {
  dbUrl: string;
  serviceKeys: string[];
  sqs: SqsConfig;
  limits: QueueLimits;
  /** How long one try of the send after the answer waits for SQS (the SDK tries twice). */
  dispatchTimeoutMs: number;
  /** How long new outbox rows are left to this instance before dispatch takes them. */
  reserveSeconds: number;
  /**
   * How long after its answer the instance may still send new rows: the reservation less two
   * tries of the SQS call and a second of clock and commit skew. Past it, dispatch sends them.
   */
  sendWindowMs: number;
  /** How long an instance remembers which customer an API key belongs to (0: not at all). */
  apiKeyCacheMs: number;
  jwt: JwtConfig;
  rateLimit: RateLimitConfig;
  jobsPolicy?: Policy;
}

export function loadConfig(env: Env = Deno.env.toObject()): QueueConfig {
  const dispatchTimeoutMs = intEnv(env, "queue", "QUEUE_DISPATCH_TIMEOUT_MS", 2_000);
  const reserveSeconds = intEnv(env, "queue", "QUEUE_SEND_RESERVE_SECONDS", 15);
  const config: QueueConfig = {
    dbUrl: requireEnv(env, "queue", "SUPABASE_DB_URL"),
    serviceKeys: serviceKeysFromEnv(env, "queue"),
    sqs: sqsConfigFromEnv(env, "queue"),
    limits: {
      maxBodyBytes: intEnv(env, "queue", "QUEUE_MAX_BODY_BYTES", 64 * 1024),
      maxBulkBodyBytes: intEnv(env, "queue", "QUEUE_MAX_BULK_BODY_BYTES", 1024 * 1024),
      maxBulkJobs: intEnv(env, "queue", "QUEUE_MAX_BULK_JOBS", 500),
    },
    dispatchTimeoutMs,
    reserveSeconds,
    sendWindowMs: reserveSeconds * 1000 - 2 * dispatchTimeoutMs - 1000,
    apiKeyCacheMs: intEnv(env, "queue", "API_KEY_CACHE_SECONDS", 5) * 1000,
    jwt: jwtConfigFromEnv(env, "queue"),
    rateLimit: rateLimitConfigFromEnv(env, "queue"),
    jobsPolicy: jobsPolicyFromEnv(env, "queue"),
  };
  const { limits } = config;
  if (limits.maxBulkJobs < 1) {
    throw new Error("Cannot start queue: QUEUE_MAX_BULK_JOBS must be at least 1");
  }
  if (config.sendWindowMs <= 0) {
    throw new Error(
      `Cannot start queue: QUEUE_SEND_RESERVE_SECONDS=${reserveSeconds} leaves no time to send: it must be over 2 x QUEUE_DISPATCH_TIMEOUT_MS (${dispatchTimeoutMs} ms) + 1 s`,
    );
  }
  // A bulk the jobs policy could never admit would be refused with a Retry-After that lies.
  if (config.jobsPolicy && config.jobsPolicy.limit < config.limits.maxBulkJobs) {
    throw new Error(
      `Cannot start queue: RATE_LIMIT_JOBS allows ${config.jobsPolicy.limit} jobs, fewer than one bulk request of QUEUE_MAX_BULK_JOBS=${config.limits.maxBulkJobs}`,
    );
  }
  return config;
}
