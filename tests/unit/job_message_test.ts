/** The SQS job message: what the outbox writes and what the worker and the DLQ monitor read. */
import assert from "node:assert/strict";
import { encodeJobMessage, parseJobMessage } from "../../supabase/functions/_shared/job_message.ts";

Deno.test("encodeJobMessage() carries only the job and customer ids", () => {
  const row = { jobId: "j1", customerId: "c1", outboxId: 1, tries: 0 };
  assert.equal(encodeJobMessage(row), '{"job_id":"j1","customer_id":"c1"}');
});

Deno.test("parseJobMessage() reads our messages and nothing else", () => {
  const id = crypto.randomUUID();
  assert.deepEqual(parseJobMessage(JSON.stringify({ job_id: id, customer_id: "c" })), {
    jobId: id,
    customerId: "c",
  });
  assert.deepEqual(parseJobMessage("not json"), {});
  assert.deepEqual(parseJobMessage(undefined), {});
  assert.deepEqual(parseJobMessage(JSON.stringify({ job_id: "1; drop table jobs" })), {
    jobId: undefined,
    customerId: undefined,
  });
  assert.deepEqual(parseJobMessage(JSON.stringify({ job_id: 7, customer_id: 8 })), {
    jobId: undefined,
    customerId: undefined,
  });
});

Deno.test("parseJobMessage() lower-cases the job id and reads back what encodeJobMessage() wrote", () => {
  const id = crypto.randomUUID();
  assert.equal(parseJobMessage(JSON.stringify({ job_id: id.toUpperCase() })).jobId, id);
  const job = { jobId: id, customerId: "acme" };
  assert.deepEqual(parseJobMessage(encodeJobMessage(job)), job);
});
