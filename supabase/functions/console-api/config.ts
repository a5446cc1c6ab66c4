/** The console-api function's settings, read once from its env vars. */
import { type Env, intEnv, requireEnv } from "../_shared/config.ts";
import { type JwtConfig, jwtConfigFromEnv, serviceKeysFromEnv } from "../_shared/auth.ts";
import { type RateLimitConfig, rateLimitConfigFromEnv } from "../_shared/ratelimit/setup.ts";
import { type SqsConfig, sqsConfigFromEnv } from "../_shared/sqs.ts";

const FN = "console-api";

export interface ConsoleConfig {
  dbUrl: string;
  /** The project's own URL: health and the DLQ redrive are asked through its functions. */
  projectUrl: string;
  serviceKeys: string[];
  jwt: JwtConfig;
  sqs: SqsConfig;
  /** Origins a browser may call from (CONSOLE_ALLOWED_ORIGINS); none: same-origin tools only. */
  allowedOrigins: string[];
  /** The bearer token GET /metrics needs (METRICS_TOKEN); unset: the endpoint is off. */
  metricsToken?: string;
  /** Jobs per batch (transaction) of a bulk action. */
  batchSize: number;
  /** How long a read may run before it is given up (statement timeout). */
  queryTimeoutMs: number;
  rateLimit: RateLimitConfig;
}

function origins(env: Env): string[] {
  const raw = env.CONSOLE_ALLOWED_ORIGINS?.trim();
  if (!raw) return [];
  return raw.split(",").map((s) => s.trim()).filter(Boolean).map((origin) => {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      // Reported below.
    }
    if (!url || !/^https?:$/.test(url.protocol) || url.origin !== origin.replace(/\/$/, "")) {
      throw new Error(
        `Cannot start ${FN}: CONSOLE_ALLOWED_ORIGINS must list origins like https://ops.example.com, got '${origin}'`,
      );
    }
    return url.origin;
  });
}

export function loadConfig(env: Env = Deno.env.toObject()): ConsoleConfig {
  const metricsToken = env.METRICS_TOKEN?.trim();
  if (metricsToken !== undefined && metricsToken !== "" && metricsToken.length < 16) {
    throw new Error(`Cannot start ${FN}: METRICS_TOKEN must be at least 16 characters`);
  }
  const batchSize = intEnv(env, FN, "CONSOLE_BATCH_SIZE", 1_000);
  if (batchSize < 1 || batchSize > 10_000) {
    throw new Error(`Cannot start ${FN}: CONSOLE_BATCH_SIZE must be 1 to 10000, got ${batchSize}`);
  }
  return {
    dbUrl: requireEnv(env, FN, "SUPABASE_DB_URL"),
    projectUrl: requireEnv(env, FN, "SUPABASE_URL").replace(/\/$/, ""),
    serviceKeys: serviceKeysFromEnv(env, FN),
    jwt: jwtConfigFromEnv(env, FN),
    sqs: sqsConfigFromEnv(env, FN),
    allowedOrigins: origins(env),
    ...(metricsToken ? { metricsToken } : {}),
    batchSize,
    queryTimeoutMs: intEnv(env, FN, "CONSOLE_QUERY_TIMEOUT_MS", 5_000),
    rateLimit: rateLimitConfigFromEnv(env, FN),
  };
}
