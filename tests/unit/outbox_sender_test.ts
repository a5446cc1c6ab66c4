import assert from "node:assert/strict";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { sqsBatchSender } from "../../supabase/functions/_shared/outbox.ts";

const rows = [
  { outbox_id: 1, job_id: "j1", customer_id: "c1", tries: 0 },
  { outbox_id: 2, job_id: "j2", customer_id: "c2", tries: 0 },
];

function client(send: (command: { input: unknown }) => Promise<unknown>): SQSClient {
  return { send } as unknown as SQSClient;
}

Deno.test("sqsBatchSender() sends one entry per row, keyed by outbox id", async () => {
  let input: { Entries: { Id: string; MessageBody: string }[] } | undefined;
  const send = sqsBatchSender(
    client((command) => {
      input = command.input as typeof input;
      return Promise.resolve({
        Successful: [{ Id: "1", MessageId: "m1" }],
        Failed: [{ Id: "2", Code: "InternalError", Message: "try later" }],
      });
    }),
    "http://queue",
  );
  const result = await send(rows);
  assert.deepEqual(input?.Entries.map((e) => e.Id), ["1", "2"]);
  assert.deepEqual(JSON.parse(input!.Entries[0]!.MessageBody), { job_id: "j1", customer_id: "c1" });
  assert.deepEqual(result, {
    delivered: [{ id: 1, messageId: "m1" }],
    failed: [{ id: 2, error: "InternalError: try later" }],
  });
});

Deno.test("sqsBatchSender() turns an outage into failed rows instead of throwing", async () => {
  const send = sqsBatchSender(
    client(() => Promise.reject(new TypeError("error sending request: Connection refused"))),
    "http://queue",
  );
  const result = await send(rows);
  assert.deepEqual(result.delivered, []);
  assert.deepEqual(result.failed.map((f) => f.id), [1, 2]);
  assert.match(result.failed[0]!.error, /Connection refused/);
});
