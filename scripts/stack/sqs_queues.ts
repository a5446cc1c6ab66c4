/**
 * The queues the system uses: one per priority lane (`jobs-high`, `jobs`, `jobs-low`), whose
 * messages move to the one `jobs-dlq` after three receives. Created (or left as they are) with
 * the AWS SDK at every start.
 */
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { laneQueueUrls, LANES } from "../../supabase/functions/_shared/lanes.ts";

export const JOBS_QUEUE = "jobs";
export const DLQ = "jobs-dlq";
export const MAX_RECEIVE_COUNT = 3;

export function sqsClient(endpoint: string): SQSClient {
  return new SQSClient({
    endpoint,
    region: "us-east-1",
    // The emulator ignores credentials but the SDK insists on having some.
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
}

export async function createQueues(
  endpoint: string,
): Promise<{ queueUrl: string; dlqUrl: string }> {
  const sqs = sqsClient(endpoint);
  try {
    const dlq = await sqs.send(
      new CreateQueueCommand({
        QueueName: DLQ,
        // Longer than the source queue's retention, so a dead letter outlives its original.
        Attributes: { MessageRetentionPeriod: String(14 * 24 * 3600) },
      }),
    );
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: dlq.QueueUrl,
        AttributeNames: ["QueueArn"],
      }),
    );
    const redrivePolicy = JSON.stringify({
      deadLetterTargetArn: Attributes?.QueueArn,
      maxReceiveCount: MAX_RECEIVE_COUNT,
    });
    const jobs = await sqs.send(new CreateQueueCommand({ QueueName: JOBS_QUEUE }));
    if (!jobs.QueueUrl || !dlq.QueueUrl) throw new Error("SQS returned no queue URL");
    // The other lanes' queues are named after the default lane's (see _shared/lanes.ts).
    const laneUrls = laneQueueUrls(jobs.QueueUrl);
    for (const lane of LANES) {
      const name = new URL(laneUrls[lane]).pathname.split("/").pop()!;
      const created = await sqs.send(new CreateQueueCommand({ QueueName: name }));
      if (created.QueueUrl !== laneUrls[lane]) {
        throw new Error(
          `SQS named lane ${lane}'s queue ${created.QueueUrl}, not ${laneUrls[lane]}`,
        );
      }
      await sqs.send(
        new SetQueueAttributesCommand({
          QueueUrl: created.QueueUrl,
          Attributes: {
            RedrivePolicy: redrivePolicy,
            MessageRetentionPeriod: String(4 * 24 * 3600),
          },
        }),
      );
    }
    return { queueUrl: jobs.QueueUrl, dlqUrl: dlq.QueueUrl };
  } finally {
    sqs.destroy();
  }
}
