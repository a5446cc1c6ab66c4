/** The queue function's settings, read once from its env vars. */
import { type Env, intEnv, requireEnv } from "../_shared/config.ts";
import { type JwtConfig, jwtConfigFromEnv, serviceKeysFromEnv } from "../_shared/auth.ts";
import { type RateLimitConfig, rateLimitConfigFromEnv } from "../_shared/ratelimit/setup.ts";
import { type SqsConfig, sqsConfigFromEnv } from "../_shared/sqs.ts";

export interface QueueConfig {
  dbUrl: string;
  serviceKeys: string[];
  sqs: SqsConfig;
  maxBodyBytes: number;
  /** How long a request waits for its own job to reach SQS before leaving it to pg_cron. */
  dispatchTimeoutMs: number;
  jwt: JwtConfig;
  rateLimit: RateLimitConfig;
}

export function loadConfig(env: Env = Deno.env.toObject()): QueueConfig {
  return {
    dbUrl: requireEnv(env, "queue", "SUPABASE_DB_URL"),
    serviceKeys: serviceKeysFromEnv(env, "queue"),
    sqs: sqsConfigFromEnv(env, "queue"),
    maxBodyBytes: intEnv(env, "queue", "QUEUE_MAX_BODY_BYTES", 64 * 1024),
    dispatchTimeoutMs: intEnv(env, "queue", "QUEUE_DISPATCH_TIMEOUT_MS", 2_000),
    jwt: jwtConfigFromEnv(env, "queue"),
    rateLimit: rateLimitConfigFromEnv(env, "queue"),
  };
}
