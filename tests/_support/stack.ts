/**
 * What integration and end-to-end tests know about the stack `deno task test` started for them:
 * its endpoints and keys arrive as env vars (the same names `deno task status` prints).
 */
import postgres from "postgres";

export interface TestStack {
  apiUrl: string;
  dbUrl: string;
  anonKey: string;
  serviceRoleKey: string;
  jwtSecret: string;
  sqsEndpoint: string;
  sqsQueueUrl: string;
  sqsDlqUrl: string;
  awsSecretAccessKey: string;
  slackWebhookUrl: string;
  metricsToken: string;
  consoleUrl: string;
  stateDir: string;
}

function need(name: string): string {
  const value = Deno.env.get(name);
  if (!value) {
    throw new Error(`${name} is not set: run integration tests through \`deno task test\``);
  }
  return value;
}

export function testStack(): TestStack {
  return {
    apiUrl: need("API_URL"),
    dbUrl: need("DB_URL"),
    anonKey: need("ANON_KEY"),
    serviceRoleKey: need("SERVICE_ROLE_KEY"),
    jwtSecret: need("JWT_SECRET"),
    sqsEndpoint: need("SQS_ENDPOINT"),
    sqsQueueUrl: need("SQS_QUEUE_URL"),
    sqsDlqUrl: need("SQS_DLQ_URL"),
    awsSecretAccessKey: need("AWS_SECRET_ACCESS_KEY"),
    slackWebhookUrl: need("SLACK_WEBHOOK_URL"),
    metricsToken: need("METRICS_TOKEN"),
    consoleUrl: need("CONSOLE_URL"),
    stateDir: need("STACK_STATE_DIR"),
  };
}

/** A SQL client for one test; end it with `await sql.end()`. */
export function connect(url: string): postgres.Sql {
  return postgres(url, { max: 2, onnotice: () => {} });
}

/** Polls until `probe` returns a value other than undefined, or fails after timeoutMs. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The first row of a result that must have one. */
export function first<T>(rows: readonly T[], what = "a row"): T {
  const row = rows[0];
  if (row === undefined) throw new Error(`Expected ${what}, got none`);
  return row;
}

/** Stops or starts one service of the test stack (postgres, sqs, functions, ...). */
export async function control(service: string, action: "stop" | "start"): Promise<void> {
  const base = Deno.env.get("STACK_CONTROL_URL");
  if (!base) throw new Error("STACK_CONTROL_URL is not set: run through `deno task test`");
  const res = await fetch(`${base}/services/${service}/${action}`, { method: "POST" });
  const body = await res.text();
  if (!res.ok) throw new Error(`Cannot ${action} ${service}: ${body}`);
}
