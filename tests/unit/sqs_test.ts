/** _shared/sqs.ts: the queue depth the DLQ monitor and health read. */
import assert from "node:assert/strict";
import { queueDepth } from "../../supabase/functions/_shared/sqs.ts";
import { fakeSqs } from "../_support/fakes.ts";

Deno.test("queueDepth() reads the visible and in-flight counts of one queue", async () => {
  const { sqs, sent } = fakeSqs(() => ({
    Attributes: { ApproximateNumberOfMessages: "12", ApproximateNumberOfMessagesNotVisible: "3" },
  }));
  assert.deepEqual(await queueDepth(sqs, "http://sqs/jobs"), { visible: 12, inFlight: 3 });
  assert.deepEqual(sent, [{
    command: "GetQueueAttributesCommand",
    input: {
      QueueUrl: "http://sqs/jobs",
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    },
  }]);
});

Deno.test("queueDepth() counts an attribute SQS leaves out as 0", async () => {
  const { sqs } = fakeSqs(() => ({}));
  assert.deepEqual(await queueDepth(sqs, "http://sqs/jobs"), { visible: 0, inFlight: 0 });
});
