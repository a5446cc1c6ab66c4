/** The dlq-monitor function's settings, read once from its env vars. */
import { serviceKeysFromEnv } from "../_shared/auth.ts";
import { type Env, intEnv, numberEnv, requireEnv } from "../_shared/config.ts";
import { type SqsConfig, sqsConfigFromEnv } from "../_shared/sqs.ts";

export interface DlqMonitorConfig {
  dbUrl: string;
  serviceKeys: string[];
  sqs: SqsConfig & { dlqUrl: string };
  /** A secret: whoever has it can post to the channel. Never logged. */
  slackWebhookUrl: string;
  slackTimeoutMs: number;
  alertsPerRun: number;
  redriveVisibilitySeconds: number;
  redriveBudgetMs: number;
  /** How long one check may spend reading the DLQ; a walk cut short goes on next run. */
  walkBudgetMs: number;
}

export function loadConfig(env: Env = Deno.env.toObject()): DlqMonitorConfig {
  const fn = "dlq-monitor";
  const slackWebhookUrl = requireEnv(env, fn, "SLACK_WEBHOOK_URL");
  if (!/^https?:\/\//.test(slackWebhookUrl)) {
    throw new Error(`Cannot start ${fn}: SLACK_WEBHOOK_URL is not an http(s) URL`);
  }
  return {
    dbUrl: requireEnv(env, fn, "SUPABASE_DB_URL"),
    serviceKeys: serviceKeysFromEnv(env, fn),
    sqs: { ...sqsConfigFromEnv(env, fn), dlqUrl: requireEnv(env, fn, "SQS_DLQ_URL") },
    slackWebhookUrl,
    slackTimeoutMs: intEnv(env, fn, "SLACK_TIMEOUT_MS", 5_000),
    alertsPerRun: intEnv(env, fn, "DLQ_ALERTS_PER_RUN", 10),
    redriveVisibilitySeconds: intEnv(env, fn, "DLQ_REDRIVE_VISIBILITY_SECONDS", 60),
    redriveBudgetMs: intEnv(env, fn, "DLQ_REDRIVE_BUDGET_MS", 20_000),
    // At least a second; at most 50 s, so a walk is over before the next minute's run. The
    // default stays under pg_net's 30 s timeout too (past it the walk goes on; its answer is lost).
    walkBudgetMs: numberEnv(env, fn, "DLQ_WALK_BUDGET_MS", 20_000, { min: 1_000, max: 50_000 }),
  };
}
