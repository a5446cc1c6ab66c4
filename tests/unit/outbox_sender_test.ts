import assert from "node:assert/strict";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { Db } from "../../supabase/functions/_shared/db.ts";
import {
  dispatchSoon,
  type SendBatch,
  sqsBatchSender,
} from "../../supabase/functions/_shared/outbox.ts";
import { fakeDb } from "../_support/fakes.ts";

const rows = [
  { outbox_id: 1, job_id: "j1", customer_id: "c1", tries: 0, lane: "default" },
  { outbox_id: 2, job_id: "j2", customer_id: "c2", tries: 0, lane: "default" },
];

const urls = { high: "http://queue-high", default: "http://queue", low: "http://queue-low" };

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
    urls,
  );
  const result = await send(rows);
  assert.deepEqual(input?.Entries.map((e) => e.Id), ["1", "2"]);
  assert.deepEqual(JSON.parse(input!.Entries[0]!.MessageBody), { job_id: "j1", customer_id: "c1" });
  assert.deepEqual(result, {
    delivered: [{ id: 1, messageId: "m1" }],
    failed: [{ id: 2, error: "InternalError: try later" }],
  });
});

Deno.test("sqsBatchSender() groups each message by its customer, for SQS fair queues", async () => {
  let input: { Entries: { MessageGroupId?: string }[] } | undefined;
  const send = sqsBatchSender(
    client((command) => {
      input = command.input as typeof input;
      return Promise.resolve({ Successful: [] });
    }),
    urls,
  );
  await send([
    ...rows,
    // Inserted by hand, not through the API: no valid group id, so none is sent.
    { outbox_id: 3, job_id: "j3", customer_id: "ünïcode customer", tries: 0, lane: "default" },
  ]);
  assert.deepEqual(input?.Entries.map((e) => e.MessageGroupId), ["c1", "c2", undefined]);
});

Deno.test("sqsBatchSender() sends each row to its lane's queue, one call per lane", async () => {
  const calls: { QueueUrl: string; Entries: { Id: string }[] }[] = [];
  const send = sqsBatchSender(
    client((command) => {
      const input = command.input as (typeof calls)[number];
      calls.push(input);
      return Promise.resolve({
        Successful: input.Entries.map((e) => ({ Id: e.Id, MessageId: `m${e.Id}` })),
      });
    }),
    urls,
  );
  const result = await send([
    { outbox_id: 1, job_id: "j1", customer_id: "c", tries: 0, lane: "low" },
    { outbox_id: 2, job_id: "j2", customer_id: "c", tries: 0, lane: "high" },
    { outbox_id: 3, job_id: "j3", customer_id: "c", tries: 0, lane: "low" },
    // A lane the code does not know (a row written by hand) goes to the default lane.
    { outbox_id: 4, job_id: "j4", customer_id: "c", tries: 0, lane: "urgent" },
  ]);
  assert.deepEqual(
    calls.map((c) => [c.QueueUrl, c.Entries.map((e) => e.Id)]),
    [["http://queue-high", ["2"]], ["http://queue", ["4"]], ["http://queue-low", ["1", "3"]]],
  );
  assert.deepEqual(result.delivered.map((d) => d.id).sort(), [1, 2, 3, 4]);
});

Deno.test("sqsBatchSender() turns an outage into failed rows instead of throwing", async () => {
  const send = sqsBatchSender(
    client(() => Promise.reject(new TypeError("error sending request: Connection refused"))),
    urls,
  );
  const result = await send(rows);
  assert.deepEqual(result.delivered, []);
  assert.deepEqual(result.failed.map((f) => f.id), [1, 2]);
  assert.match(result.failed[0]!.error, /Connection refused/);
});

const delivering: SendBatch = (batch) =>
  Promise.resolve({
    delivered: batch.map((row) => ({ id: row.outbox_id, messageId: `m${row.outbox_id}` })),
    failed: [],
  });

Deno.test("dispatchSoon() sends just the given outbox rows, now, in one transaction", async () => {
  const { db, statements } = fakeDb((text) => text.includes("take_outbox") ? rows : []);
  const logged: string[] = [];
  await dispatchSoon(db, delivering, [1, 2], (line) => logged.push(line));
  const step = (text: string) => /begin|take_outbox|settle_outbox|commit|rollback/.exec(text)?.[0];
  assert.deepEqual(statements.map((s) => step(s.text)), [
    "begin",
    "take_outbox",
    "settle_outbox",
    "commit",
  ]);
  assert.deepEqual(statements[1]!.values, [2, [1, 2]], "only these rows, at most as many");
  assert.deepEqual(statements[2]!.values, [[1, 2], ["m1", "m2"], [], null]);
  assert.deepEqual(logged, []);
});

Deno.test("dispatchSoon() never throws: it logs and leaves the rows to the scheduled dispatch", async () => {
  const logged: string[] = [];
  const log = (line: string) => logged.push(line);
  const { db, statements } = fakeDb((text) => {
    if (text.includes("take_outbox")) throw new Error("connection terminated");
  });
  await dispatchSoon(db, delivering, [7], log);
  assert.equal(statements.at(-1)!.text, "rollback");
  const unreachable = { connect: () => Promise.reject(new Error("connect ECONNREFUSED")) };
  await dispatchSoon(unreachable as unknown as Db, delivering, [8, 9], log);
  assert.equal(logged.length, 2);
  assert.match(
    logged[0]!,
    /row\(s\) 7 left to the scheduled dispatch: Error: connection terminated/,
  );
  assert.match(logged[1]!, /row\(s\) 8, 9 left to the scheduled dispatch: .*ECONNREFUSED/);
});

Deno.test("dispatchSoon() with no rows touches nothing", async () => {
  const { db, statements } = fakeDb();
  await dispatchSoon(db, () => Promise.reject(new Error("must not send")), [], () => {});
  assert.deepEqual(statements, []);
});
