/** The health function's settings, read once from its env vars. */
import { type Env, intEnv, requireEnv } from "../_shared/config.ts";

export interface HealthConfig {
  dbUrl: string;
  /** How long the database check may take before it counts as down. */
  dbTimeoutMs: number;
}

export function loadConfig(env: Env = Deno.env.toObject()): HealthConfig {
  return {
    dbUrl: requireEnv(env, "health", "SUPABASE_DB_URL"),
    dbTimeoutMs: intEnv(env, "health", "HEALTH_DB_TIMEOUT_MS", 1_500),
  };
}
