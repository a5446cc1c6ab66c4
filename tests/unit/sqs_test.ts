/** _shared/sqs.ts: the queue depth the DLQ monitor and health read. */
import assert from "node:assert/strict";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { queueDepth } from "../../supabase/functions/_shared/sqs.ts";

function client(attributes: Record<string, string> | undefined, sent: unknown[] = []): SQSClient {
  return {
    send: (command: { input: unknown }) => {
      sent.push(command.input);
      return Promise.resolve({ Attributes: attributes });
    },
  } as unknown as SQSClient;
}

Deno.test("queueDepth() reads the visible and in-flight counts of one queue", async () => {
  const sent: unknown[] = [];
  const depth = await queueDepth(
    client({ ApproximateNumberOfMessages: "12", ApproximateNumberOfMessagesNotVisible: "3" }, sent),
    "http://sqs/jobs",
  );
  assert.deepEqual(depth, { visible: 12, inFlight: 3 });
  assert.deepEqual(sent, [{
    QueueUrl: "http://sqs/jobs",
    AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
  }]);
});

Deno.test("queueDepth() counts an attribute SQS leaves out as 0", async () => {
  assert.deepEqual(await queueDepth(client(undefined), "http://sqs/jobs"), {
    visible: 0,
    inFlight: 0,
  });
});
