/** The SQS emulator as the stack sets it up: jobs → jobs-dlq after three receives. */
import assert from "node:assert/strict";
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { sqsClient } from "../../scripts/stack/sqs_queues.ts";
import { testStack } from "../_support/stack.ts";

Deno.test("a message sent to jobs can be received and deleted", async () => {
  const stack = testStack();
  const sqs = sqsClient(stack.sqsEndpoint);
  try {
    const marker = `job-${crypto.randomUUID()}`;
    await sqs.send(new SendMessageCommand({ QueueUrl: stack.sqsQueueUrl, MessageBody: marker }));
    const received = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: stack.sqsQueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 2,
      }),
    );
    const message = received.Messages?.find((m) => m.Body === marker);
    assert.ok(message, "the sent message was received");
    await sqs.send(
      new DeleteMessageCommand({
        QueueUrl: stack.sqsQueueUrl,
        ReceiptHandle: message.ReceiptHandle,
      }),
    );
  } finally {
    sqs.destroy();
  }
});

Deno.test("jobs has a redrive policy to jobs-dlq with maxReceiveCount 3", async () => {
  const stack = testStack();
  const sqs = sqsClient(stack.sqsEndpoint);
  try {
    const dlq = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: stack.sqsDlqUrl,
        AttributeNames: ["QueueArn", "MessageRetentionPeriod"],
      }),
    );
    const jobs = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: stack.sqsQueueUrl,
        AttributeNames: ["RedrivePolicy", "MessageRetentionPeriod"],
      }),
    );
    const policy = JSON.parse(jobs.Attributes?.RedrivePolicy ?? "{}");
    assert.equal(policy.deadLetterTargetArn, dlq.Attributes?.QueueArn);
    assert.equal(Number(policy.maxReceiveCount), 3);
    assert.ok(
      Number(dlq.Attributes?.MessageRetentionPeriod) >
        Number(jobs.Attributes?.MessageRetentionPeriod),
      "dead letters outlive the source queue's retention",
    );
  } finally {
    sqs.destroy();
  }
});

Deno.test("a message received three times without deletion moves to jobs-dlq", async () => {
  const stack = testStack();
  const sqs = sqsClient(stack.sqsEndpoint);
  try {
    const marker = `poison-${crypto.randomUUID()}`;
    await sqs.send(new SendMessageCommand({ QueueUrl: stack.sqsQueueUrl, MessageBody: marker }));
    let receives = 0;
    for (let i = 0; i < 10 && receives < 3; i++) {
      const got = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: stack.sqsQueueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 0,
          WaitTimeSeconds: 1,
        }),
      );
      if (got.Messages?.some((m) => m.Body === marker)) receives++;
    }
    assert.equal(receives, 3);
    // The next receive finds it over its limit and dead-letters it.
    await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: stack.sqsQueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
      }),
    );
    const dead = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: stack.sqsDlqUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 2,
      }),
    );
    const message = dead.Messages?.find((m) => m.Body === marker);
    assert.ok(message, "the message is in jobs-dlq");
    await sqs.send(
      new DeleteMessageCommand({
        QueueUrl: stack.sqsDlqUrl,
        ReceiptHandle: message.ReceiptHandle,
      }),
    );
  } finally {
    sqs.destroy();
  }
});

Deno.test("a message made visible again (visibility 0) is received again, not lost", async () => {
  const stack = testStack();
  const sqs = sqsClient(stack.sqsEndpoint);
  try {
    const marker = `release-${crypto.randomUUID()}`;
    await sqs.send(new SendMessageCommand({ QueueUrl: stack.sqsQueueUrl, MessageBody: marker }));
    const receive = async () =>
      (await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: stack.sqsQueueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 60,
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ["ApproximateReceiveCount"],
        }),
      )).Messages?.find((m) => m.Body === marker);
    const first = await receive();
    assert.ok(first);
    for (const seconds of [60, 0]) {
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: stack.sqsQueueUrl,
          ReceiptHandle: first.ReceiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
    }
    const again = await receive();
    assert.ok(again, "the message came back");
    assert.equal(again.Attributes?.ApproximateReceiveCount, "2", "its receive count is kept");
    await sqs.send(
      new DeleteMessageCommand({
        QueueUrl: stack.sqsQueueUrl,
        ReceiptHandle: again.ReceiptHandle,
      }),
    );
  } finally {
    sqs.destroy();
  }
});
