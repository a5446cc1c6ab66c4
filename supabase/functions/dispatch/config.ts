/** The dispatch function's settings, read once from its env vars. */
import { type Env, intEnv, requireEnv } from "../_shared/config.ts";
import { serviceKeysFromEnv } from "../_shared/auth.ts";
import { type SqsConfig, sqsConfigFromEnv } from "../_shared/sqs.ts";

export interface DispatchConfig {
  dbUrl: string;
  serviceKeys: string[];
  sqs: SqsConfig;
  /** Rows taken per transaction. */
  batchRows: number;
  /** A run stops taking new batches after this long (pg_cron calls again next minute). */
  budgetMs: number;
}

export function loadConfig(env: Env = Deno.env.toObject()): DispatchConfig {
  return {
    dbUrl: requireEnv(env, "dispatch", "SUPABASE_DB_URL"),
    serviceKeys: serviceKeysFromEnv(env, "dispatch"),
    sqs: sqsConfigFromEnv(env, "dispatch"),
    batchRows: intEnv(env, "dispatch", "DISPATCH_BATCH_ROWS", 100),
    budgetMs: intEnv(env, "dispatch", "DISPATCH_BUDGET_MS", 10_000),
  };
}
