/**
 * What a hosted deployment needs, in one place: the settings `deno task deploy` reads from its
 * env file, which of them become function secrets, which are secret values (never printed),
 * and a check that runs every function's own config parser on them, so a bad value fails the
 * deploy with the message the function would give at start-up.
 */
import type { Env } from "../../supabase/functions/_shared/config.ts";
import { loadConfig as consoleApiConfig } from "../../supabase/functions/console-api/config.ts";
import { loadConfig as dispatchConfig } from "../../supabase/functions/dispatch/config.ts";
import { loadConfig as dlqMonitorConfig } from "../../supabase/functions/dlq-monitor/config.ts";
import { loadConfig as healthConfig } from "../../supabase/functions/health/config.ts";
import { loadConfig as queueConfig } from "../../supabase/functions/queue/config.ts";

/** Used by the deploy itself; never sent to the functions. */
export const DEPLOY_SETTINGS = {
  SUPABASE_PROJECT_REF: "the project's reference id (Project Settings > General)",
  SUPABASE_ACCESS_TOKEN: "a personal access token for the Supabase CLI",
  DEPLOY_DB_URL: "the database connection string (direct or session pooler) for migrations",
  SUPABASE_SERVICE_ROLE_KEY: "the project's service role key, stored in Vault for pg_cron",
} as const;

/** Read by `deno task console --env-file` only, and public: the console page signs in with it. */
export const CONSOLE_SETTINGS = {
  SUPABASE_ANON_KEY: "the project's anon (or publishable) key, for the console's sign-in",
  SUPABASE_URL: "the project's URL when not https://<ref>.supabase.co (a custom domain)",
} as const;

/** Function secrets every deployment must set. */
export const REQUIRED_SECRETS = [
  "SQS_QUEUE_URL",
  "SQS_DLQ_URL",
  "AWS_REGION",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "SLACK_WEBHOOK_URL",
] as const;

/** Function settings with defaults (see docs/configuration.md). */
export const OPTIONAL_SECRETS = [
  "JWT_SECRET",
  "QUEUE_MAX_BODY_BYTES",
  "QUEUE_MAX_BULK_BODY_BYTES",
  "QUEUE_MAX_BULK_JOBS",
  "QUEUE_SEND_RESERVE_SECONDS",
  "QUEUE_DISPATCH_TIMEOUT_MS",
  "API_KEY_CACHE_SECONDS",
  "DISPATCH_BATCH_ROWS",
  "DISPATCH_BUDGET_MS",
  "HEALTH_DB_TIMEOUT_MS",
  "HEALTH_SQS_TIMEOUT_MS",
  "RATE_LIMIT_QUEUE",
  "RATE_LIMIT_HEALTH",
  "RATE_LIMIT_PRESET_STANDARD",
  "RATE_LIMIT_PRESET_STRICT",
  "RATE_LIMIT_PRESET_RELAXED",
  "RATE_LIMIT_PRESET_API_KEY",
  "RATE_LIMIT_SERVICE",
  "RATE_LIMIT_JOBS",
  "RATE_LIMIT_CLIENT_IP",
  "RATE_LIMIT_TIMEOUT_MS",
  "RATE_LIMIT_MEMORY_KEYS",
  "RATE_LIMIT_REFUSALS_FLUSH_MS",
  "RATE_LIMIT_CONSOLE_API",
  "CONSOLE_ALLOWED_ORIGINS",
  "CONSOLE_BATCH_SIZE",
  "CONSOLE_QUERY_TIMEOUT_MS",
  "METRICS_TOKEN",
  "SLACK_TIMEOUT_MS",
  "DLQ_ALERTS_PER_RUN",
  "DLQ_REDRIVE_VISIBILITY_SECONDS",
  "DLQ_REDRIVE_BUDGET_MS",
  "DLQ_WALK_BUDGET_MS",
] as const;

/** Set by Supabase in every hosted function; placeholders stand in for them in the check. */
export const INJECTED = [
  "SUPABASE_URL",
  "SUPABASE_DB_URL",
  "SUPABASE_ANON_KEY",
  "SUPABASE_SERVICE_ROLE_KEY",
  "SUPABASE_SECRET_KEYS",
  "SUPABASE_PUBLISHABLE_KEYS",
] as const;

/** Values that are credentials: printed as *** everywhere. */
export const SECRET_VALUES = new Set<string>([
  "SUPABASE_ACCESS_TOKEN",
  "SUPABASE_SERVICE_ROLE_KEY",
  "DEPLOY_DB_URL",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "SLACK_WEBHOOK_URL",
  "JWT_SECRET",
  "METRICS_TOKEN",
]);

export interface SettingsCheck {
  missing: string[];
  errors: string[];
  /** The function secrets to set, by name. */
  secrets: Record<string, string>;
}

export function checkSettings(env: Env): SettingsCheck {
  const missing = [...Object.keys(DEPLOY_SETTINGS), ...REQUIRED_SECRETS]
    .filter((name) => !env[name]?.trim());
  const errors: string[] = [];
  const known = new Set<string>([
    ...Object.keys(DEPLOY_SETTINGS),
    ...Object.keys(CONSOLE_SETTINGS),
    ...REQUIRED_SECRETS,
    ...OPTIONAL_SECRETS,
  ]);
  for (const name of Object.keys(env)) {
    if (known.has(name)) continue;
    if (name === "SQS_ENDPOINT") {
      errors.push("SQS_ENDPOINT is for the local emulator only: remove it to use AWS SQS");
    } else if (name.startsWith("SUPABASE_")) {
      errors.push(`${name}: Supabase sets SUPABASE_* itself; custom secrets cannot start with it`);
    } else {
      errors.push(`${name} is not a setting of this system (see docs/configuration.md)`);
    }
  }
  const secrets: Record<string, string> = {};
  for (const name of [...REQUIRED_SECRETS, ...OPTIONAL_SECRETS]) {
    const value = env[name]?.trim();
    if (value) secrets[name] = value;
  }
  if (missing.length === 0 && errors.length === 0) errors.push(...functionErrors(secrets));
  return { missing, errors, secrets };
}

/** Every function's own parser over the secrets, as it will run at start-up. */
function functionErrors(secrets: Record<string, string>): string[] {
  const env: Env = {
    ...secrets,
    SUPABASE_URL: "https://project-ref.supabase.co",
    SUPABASE_DB_URL: "postgresql://postgres@db.project-ref.supabase.co:5432/postgres",
    SUPABASE_ANON_KEY: "placeholder",
    SUPABASE_SERVICE_ROLE_KEY: "placeholder",
  };
  const errors: string[] = [];
  for (
    const loadConfig of [
      queueConfig,
      healthConfig,
      dispatchConfig,
      dlqMonitorConfig,
      consoleApiConfig,
    ]
  ) {
    try {
      loadConfig(env);
    } catch (error) {
      errors.push((error as Error).message);
    }
  }
  return errors;
}

/** A value as it may be printed. */
export function shown(name: string, value: string): string {
  return SECRET_VALUES.has(name) ? "***" : value;
}
