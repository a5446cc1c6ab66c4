/** Helpers for tests that drive jobs through the real stack: keys, SQS, worker processes. */
import { laneQueueUrls, LANES } from "../../supabase/functions/_shared/lanes.ts";
import { SignJWT } from "jose";
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { join } from "node:path";
import postgres from "postgres";
import { sqsClient } from "../../scripts/stack/sqs_queues.ts";
import { workerEnv } from "../../scripts/stack/stack.ts";
import { projectRoot } from "../../scripts/stack/profile.ts";
import type { TestStack } from "./stack.ts";

export function serviceHeaders(stack: TestStack): Record<string, string> {
  return { authorization: `Bearer ${stack.serviceRoleKey}` };
}

/** A user's access token as Supabase Auth would issue it, tied to a customer (or not). */
export async function userJwt(stack: TestStack, customerId?: string): Promise<string> {
  return await new SignJWT({
    role: "authenticated",
    sub: crypto.randomUUID(),
    app_metadata: customerId ? { customer_id: customerId } : {},
  }).setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime("10m")
    .sign(new TextEncoder().encode(stack.jwtSecret));
}

export function uniqueCustomer(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Receives (and deletes) everything on a queue until it stays empty; returns the bodies. */
export async function drainQueue(
  stack: Pick<TestStack, "sqsEndpoint">,
  queueUrl: string,
): Promise<string[]> {
  const sqs = sqsClient(stack.sqsEndpoint);
  const bodies: string[] = [];
  try {
    while (true) {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      const messages = out.Messages ?? [];
      if (messages.length === 0) return bodies;
      bodies.push(...messages.map((m) => m.Body ?? ""));
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    }
  } finally {
    sqs.destroy();
  }
}

/** Drains every priority lane's queue (high, default, low); returns the bodies, in that order. */
export async function drainLanes(
  stack: Pick<TestStack, "sqsEndpoint" | "sqsQueueUrl">,
): Promise<string[]> {
  const urls = laneQueueUrls(stack.sqsQueueUrl);
  const bodies: string[] = [];
  for (const lane of LANES) bodies.push(...await drainQueue(stack, urls[lane]));
  return bodies;
}

export interface WorkerProcess {
  id: string;
  output: string[];
  /** Sends a signal and waits for the process to end. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** A reference worker process (`deno task worker`) against the test stack. */
export function startWorker(stack: TestStack, env: Record<string, string> = {}): WorkerProcess {
  const id = `test-worker-${crypto.randomUUID().slice(0, 6)}`;
  const stackEnv = {
    API_URL: stack.apiUrl,
    DB_URL: stack.dbUrl,
    ANON_KEY: stack.anonKey,
    SERVICE_ROLE_KEY: stack.serviceRoleKey,
    JWT_SECRET: stack.jwtSecret,
    SQS_ENDPOINT: stack.sqsEndpoint,
    SQS_QUEUE_URL: stack.sqsQueueUrl,
    SQS_DLQ_URL: stack.sqsDlqUrl,
    AWS_SECRET_ACCESS_KEY: stack.awsSecretAccessKey,
    SLACK_WEBHOOK_URL: stack.slackWebhookUrl,
    METRICS_TOKEN: stack.metricsToken,
    CONSOLE_URL: stack.consoleUrl,
  };
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(projectRoot, "worker", "main.ts")],
    env: {
      ...workerEnv(stackEnv, id),
      EXIT_WHEN_STDIN_CLOSES: "0",
      RECEIVE_WAIT_SECONDS: "1",
      HEARTBEAT_SECONDS: "1",
      HANDLER_DURATION_MS: "200",
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output: string[] = [];
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output.push(chunk);
  };
  const pumps = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let stopped: Promise<Deno.CommandStatus> | undefined;
  return {
    id,
    output,
    stop(signal = "SIGTERM") {
      stopped ??= (async () => {
        try {
          child.kill(signal);
        } catch {
          // Already exited.
        }
        const status = await child.status;
        await pumps;
        return status;
      })();
      return stopped;
    },
  };
}

/** Fails unless every one of these job ids has its row in the database (nothing lost). */
export async function assertAllStored(stack: TestStack, ids: string[]): Promise<void> {
  const sql = postgres(stack.dbUrl, { max: 1, onnotice: () => {} });
  try {
    const [{ n }] = await sql<[{ n: number }]>`
      select count(*)::int as n from public.jobs where id = any(${ids})`;
    if (n !== ids.length) {
      throw new Error(`${ids.length - n} of ${ids.length} accepted jobs are missing`);
    }
  } finally {
    await sql.end();
  }
}
