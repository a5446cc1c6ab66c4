/** health/store.ts: the health check's one SQL call and its SQS depths. */
import assert from "node:assert/strict";
import { sqlHealthStore, sqsQueueDepths } from "../../supabase/functions/health/store.ts";
import type { Snapshot } from "../../supabase/functions/health/status.ts";
import { fakeDb, fakeSqs } from "../_support/fakes.ts";

const SNAPSHOT: Snapshot = {
  jobs_pending: 1,
  jobs_in_progress: 2,
  jobs_completed_today: 3,
  jobs_failed_today: 0,
  workers_active: 1,
  jobs_stale: 0,
  outbox_waiting: 0,
  misconfigured: [],
  cron_jobs: [],
};

Deno.test("sqlHealthStore().snapshot() reads private.health_snapshot() in one statement", async () => {
  const { db, statements } = fakeDb(() => [{ snapshot: SNAPSHOT }]);
  assert.deepEqual(await sqlHealthStore(db).snapshot(), SNAPSHOT);
  assert.deepEqual(statements, [{
    text: "select to_jsonb(s) as snapshot from private.health_snapshot() s",
    values: [],
  }]);
});

const depths: Record<string, Record<string, string>> = {
  "http://sqs/jobs": {
    ApproximateNumberOfMessages: "5",
    ApproximateNumberOfMessagesNotVisible: "2",
  },
  "http://sqs/jobs-high": { ApproximateNumberOfMessages: "3" },
  "http://sqs/jobs-low": { ApproximateNumberOfMessagesNotVisible: "4" },
  "http://sqs/jobs-dlq": { ApproximateNumberOfMessages: "1" },
};

Deno.test("sqsQueueDepths() counts waiting and in-flight messages of each lane and the DLQ", async () => {
  const { sqs } = fakeSqs((_, input) => ({ Attributes: depths[input.QueueUrl as string] }));
  const read = sqsQueueDepths(sqs, { queueUrl: "http://sqs/jobs", dlqUrl: "http://sqs/jobs-dlq" });
  assert.deepEqual(await read(), {
    depth: 14,
    lanes: { high: 3, default: 7, low: 4 },
    dlqDepth: 1,
  });
});

Deno.test("sqsQueueDepths() without a DLQ says null for it and does not ask SQS", async () => {
  const { sqs, sent } = fakeSqs((_, input) => ({ Attributes: depths[input.QueueUrl as string] }));
  assert.deepEqual(await sqsQueueDepths(sqs, { queueUrl: "http://sqs/jobs" })(), {
    depth: 14,
    lanes: { high: 3, default: 7, low: 4 },
    dlqDepth: null,
  });
  assert.deepEqual(sent.map((s) => s.input.QueueUrl).sort(), [
    "http://sqs/jobs",
    "http://sqs/jobs-high",
    "http://sqs/jobs-low",
  ]);
});
