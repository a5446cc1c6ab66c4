/** The health function's settings, read once from its env vars. */
import { type Env, intEnv, requireEnv } from "../_shared/config.ts";
import { serviceKeysFromEnv } from "../_shared/auth.ts";
import { type RateLimitConfig, rateLimitConfigFromEnv } from "../_shared/ratelimit/setup.ts";
import { type SqsConfig, sqsConfigFromEnv } from "../_shared/sqs.ts";

export interface HealthConfig {
  dbUrl: string;
  /** Callers with one of these get the service role's own rate-limit policy. */
  serviceKeys: string[];
  sqs: SqsConfig;
  /** How long each dependency may take before it counts as down. */
  dbTimeoutMs: number;
  sqsTimeoutMs: number;
  rateLimit: RateLimitConfig;
}

export function loadConfig(env: Env = Deno.env.toObject()): HealthConfig {
  return {
    dbUrl: requireEnv(env, "health", "SUPABASE_DB_URL"),
    serviceKeys: serviceKeysFromEnv(env, "health"),
    sqs: sqsConfigFromEnv(env, "health"),
    dbTimeoutMs: intEnv(env, "health", "HEALTH_DB_TIMEOUT_MS", 1_500),
    sqsTimeoutMs: intEnv(env, "health", "HEALTH_SQS_TIMEOUT_MS", 1_000),
    rateLimit: rateLimitConfigFromEnv(env, "health"),
  };
}
