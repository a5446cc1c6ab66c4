/**
 * The SQS client the functions share. Locally SQS_ENDPOINT points at the emulator; on AWS it is
 * left unset and the SDK finds the regional endpoint. Short timeouts and a single retry, so an
 * SQS outage fails fast and the outbox keeps the work for a later run.
 */
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { type Env, requireEnv } from "./config.ts";

export interface SqsConfig {
  queueUrl: string;
  dlqUrl?: string;
  endpoint?: string;
  region: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export function sqsConfigFromEnv(env: Env, fn: string): SqsConfig {
  const queueUrl = requireEnv(env, fn, "SQS_QUEUE_URL");
  const region = env.AWS_REGION?.trim() || /sqs\.([a-z0-9-]+)\./.exec(queueUrl)?.[1];
  if (!region) throw new Error(`Cannot start ${fn}: AWS_REGION is not set`);
  const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY?.trim();
  return {
    queueUrl,
    dlqUrl: env.SQS_DLQ_URL?.trim() || undefined,
    endpoint: env.SQS_ENDPOINT?.trim() || undefined,
    region,
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
  };
}

export function createSqsClient(config: SqsConfig, timeoutMs = 3_000): SQSClient {
  return new SQSClient({
    region: config.region,
    endpoint: config.endpoint,
    credentials: config.credentials,
    maxAttempts: 2,
    requestHandler: { requestTimeout: timeoutMs, connectionTimeout: Math.min(timeoutMs, 1_000) },
  });
}

/** SQS's approximate message counts: waiting to be received, and received but not yet deleted. */
export interface QueueDepth {
  visible: number;
  inFlight: number;
}

export async function queueDepth(client: SQSClient, url: string): Promise<QueueDepth> {
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return {
    visible: Number(Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}
