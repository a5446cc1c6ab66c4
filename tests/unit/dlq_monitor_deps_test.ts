/** dlq-monitor/deps.ts: the routes' work composed from config and clients (here, fakes). */
import assert from "node:assert/strict";
import { encodeJobMessage } from "../../supabase/functions/_shared/job_message.ts";
import { loadConfig } from "../../supabase/functions/dlq-monitor/config.ts";
import { DELIVERY_LEASE_SECONDS } from "../../supabase/functions/dlq-monitor/delivery.ts";
import { depsFromConfig } from "../../supabase/functions/dlq-monitor/deps.ts";
import { fakeDb, fakeSqs } from "../_support/fakes.ts";

const config = loadConfig({
  SUPABASE_DB_URL: "postgres://x",
  SUPABASE_SERVICE_ROLE_KEY: "service",
  SQS_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs",
  SQS_DLQ_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs-dlq",
  SLACK_WEBHOOK_URL: "https://hooks.slack.test/T/B/x",
  DLQ_ALERTS_PER_RUN: "3",
});
const JOB_ID = "4f1d2c3b-5a69-4e7f-8a9b-0c1d2e3f4a5b";
const mustNotPost = () => Promise.reject(new Error("must not post"));

Deno.test("depsFromConfig() delivers under the delivery lease, as many alerts as configured", async () => {
  const { db, statements } = fakeDb((text) => {
    return text.includes("claim_slack_delivery") ? [{ not_before: "-infinity" }] : [];
  });
  const { sqs } = fakeSqs();
  const deps = depsFromConfig(config, { db, sqs, post: mustNotPost }, () => {});
  assert.deepEqual(await deps.deliver(), { delivered: 0 });
  const claim = statements.find((s) => s.text.includes("claim_slack_delivery"))!;
  assert.deepEqual(claim.values, [DELIVERY_LEASE_SECONDS]);
  const due = statements.find((s) => s.text.includes("due_alerts"))!;
  assert.deepEqual(due.values, [3]);
});

Deno.test("depsFromConfig() redrive requeues the job, sends its outbox row at once, then deletes the dead letter", async () => {
  const { db, statements } = fakeDb((text) => {
    if (text.includes("claim_dlq")) return [{ lease: "2026-11-29 12:01:20.123456+00" }];
    if (text.includes("redrive_job")) return [{ outcome: "requeued", outbox_id: 7 }];
    if (text.includes("take_outbox")) {
      return [{ outbox_id: 7, job_id: JOB_ID, customer_id: "acme", tries: 0 }];
    }
    return [];
  });
  let received = false;
  const { sqs, sent } = fakeSqs((command) => {
    switch (command) {
      case "ReceiveMessageCommand":
        if (received) return {};
        received = true;
        return {
          Messages: [{
            MessageId: "dead-1",
            ReceiptHandle: "rh-1",
            Body: encodeJobMessage({ jobId: JOB_ID, customerId: "acme" }),
            Attributes: { ApproximateReceiveCount: "4" },
          }],
        };
      case "SendMessageBatchCommand":
        return { Successful: [{ Id: "7", MessageId: "m-7" }] };
      default:
        return {};
    }
  });
  const deps = depsFromConfig(config, { db, sqs, post: mustNotPost }, () => {});
  const result = await deps.redrive({ limit: 10, dryRun: false });
  assert.equal(result.moved.requeued, 1);
  assert.deepEqual(sent.map((s) => s.command), [
    "ReceiveMessageCommand",
    "SendMessageBatchCommand",
    "DeleteMessageCommand",
    "ReceiveMessageCommand",
    "GetQueueAttributesCommand",
  ]);
  assert.equal(sent[1]!.input.QueueUrl, config.sqs.queueUrl);
  assert.equal(sent[2]!.input.QueueUrl, config.sqs.dlqUrl);
  const settle = statements.find((s) => s.text.includes("settle_outbox"))!;
  assert.deepEqual(settle.values, [[7], ["m-7"], [], null]);
  const lease = statements.find((s) => s.text.includes("claim_dlq"))!;
  assert.deepEqual(
    lease.values,
    [config.redriveBudgetMs / 1000 + 60],
    "it holds the DLQ meanwhile",
  );
  const release = statements.find((s) => s.text.includes("release_dlq"))!;
  assert.deepEqual(release.values, ["2026-11-29 12:01:20.123456+00"], "and gives that lease back");
});
