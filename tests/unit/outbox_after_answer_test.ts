import assert from "node:assert/strict";
import type { BatchResult, OutboxRow } from "../../supabase/functions/_shared/outbox.ts";
import {
  afterAnswerSender,
  MAX_BACKLOG,
  MAX_SENDS,
  SETTLE_TIMEOUT_MS,
} from "../../supabase/functions/_shared/outbox_after_answer.ts";
import { fakeDb } from "../_support/fakes.ts";

function rows(from: number, count: number): OutboxRow[] {
  return Array.from({ length: count }, (_, i) => ({
    outbox_id: from + i,
    job_id: `j${from + i}`,
    customer_id: "c",
    tries: 0,
    lane: "default",
  }));
}

/** A SendMessageBatch that waits until released, recording each call's outbox ids. */
function gatedSend(fail: (id: number) => boolean = () => false) {
  const calls: number[][] = [];
  const gates: (() => void)[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const send = async (batch: OutboxRow[]): Promise<BatchResult> => {
    calls.push(batch.map((r) => r.outbox_id));
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise<void>((resolve) => gates.push(resolve));
    inFlight--;
    return {
      delivered: batch.filter((r) => !fail(r.outbox_id)).map((r) => ({
        id: r.outbox_id,
        messageId: `m${r.outbox_id}`,
      })),
      failed: batch.filter((r) => fail(r.outbox_id)).map((r) => ({
        id: r.outbox_id,
        error: "ServiceUnavailable: try later",
      })),
    };
  };
  /** Lets every send through, including those started meanwhile (sends leave a tick later). */
  const releaseAll = async () => {
    do {
      await new Promise((r) => setTimeout(r, 2));
      gates.splice(0).forEach((go) => go());
    } while (gates.length > 0 || inFlight > 0);
  };
  return { send, calls, releaseAll, maxInFlight: () => maxInFlight };
}

Deno.test("rows of one tick leave together; while a send is on its way, rows wait for batches of 10", async () => {
  const { db, statements } = fakeDb();
  const gate = gatedSend();
  const sender = afterAnswerSender(db, gate.send, 15_000, () => {});
  const first = sender.send(rows(1, 1));
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(gate.calls, [[1]], "a lone row leaves at once (after the answer's tick)");
  const done = [first, sender.send(rows(2, 3)), sender.send(rows(5, 60))];
  await gate.releaseAll();
  await Promise.all(done);
  // While the first is on its way, the 3 and the 60 leave in full batches; the last 3 once
  // nothing else is on its way.
  assert.deepEqual(gate.calls.map((c) => c.length), [1, 10, 10, 10, 10, 10, 10, 3]);
  assert.deepEqual(gate.calls.flat(), rows(1, 64).map((r) => r.outbox_id), "in arrival order");
  assert.equal(gate.maxInFlight(), MAX_SENDS);
  const settled = statements.flatMap((s) => s.values[0] as number[]);
  assert.deepEqual(settled.sort((a, b) => a - b), rows(1, 64).map((r) => r.outbox_id));
  assert.ok(statements.length < 8, `settles gathered: ${statements.length} calls for 8 sends`);
  assert.ok(statements.every((s) => s.text.startsWith("select private.settle_outbox(")));
});

Deno.test("a refused row is settled as failed (dispatch retries it) and logged once per settle", async () => {
  const { db, statements } = fakeDb();
  const gate = gatedSend((id) => id === 2);
  const lines: string[] = [];
  const sender = afterAnswerSender(db, gate.send, 15_000, (_kind, line) => lines.push(line));
  const done = sender.send(rows(1, 3));
  await gate.releaseAll();
  await done;
  assert.deepEqual(statements[0]!.values, [
    [1, 3],
    ["m1", "m3"],
    [2],
    "ServiceUnavailable: try later",
  ]);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /1 message\(s\) not sent/);
});

Deno.test("a settle the database refuses is logged; the request's promise still ends", async () => {
  const { db } = fakeDb(() => {
    throw new Error("connection terminated");
  });
  const gate = gatedSend();
  const lines: string[] = [];
  const sender = afterAnswerSender(db, gate.send, 15_000, (_kind, line) => lines.push(line));
  const done = sender.send(rows(1, 2));
  await gate.releaseAll();
  await done;
  assert.match(lines.join("\n"), /2 row\(s\) not settled, left to dispatch: connection terminated/);
});

Deno.test("nothing to send resolves at once and calls nothing", async () => {
  const { db, statements } = fakeDb();
  const gate = gatedSend();
  await afterAnswerSender(db, gate.send, 15_000, () => {}).send([]);
  assert.deepEqual(gate.calls, []);
  assert.deepEqual(statements, []);
});

Deno.test("sent rows are settled together while sends are in flight, and at once when none is", async () => {
  const { db, statements } = fakeDb();
  const gate = gatedSend();
  const sender = afterAnswerSender(db, gate.send, 15_000, () => {});
  const done = [sender.send(rows(1, 1)), sender.send(rows(2, 100))];
  await gate.releaseAll();
  await Promise.all(done);
  const sizes = statements.map((s) => (s.values[0] as number[]).length);
  assert.equal(sizes.reduce((a, b) => a + b, 0), 101);
  assert.ok(sizes.length <= 4, `101 rows in ${sizes.length} settles`);
  const lone = afterAnswerSender(db, gate.send, 15_000, () => {});
  const one = lone.send(rows(500, 1));
  await gate.releaseAll();
  await one;
  assert.deepEqual(statements.at(-1)!.values[0], [500], "alone, it is settled right away");
});

Deno.test("rows whose reservation ends while SQS stalls, or beyond the backlog cap, are left to dispatch", async () => {
  const { db, statements } = fakeDb();
  const gate = gatedSend();
  let clock = 0;
  const lines: string[] = [];
  const sender = afterAnswerSender(
    db,
    gate.send,
    15_000,
    (_kind, line) => lines.push(line),
    () => clock,
  );
  const stalled = sender.send(rows(1, 10));
  const second = sender.send(rows(11, 10));
  await new Promise((r) => setTimeout(r, 5));
  const waiting = sender.send(rows(21, 5));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(gate.calls.length, 2, "21-25 wait behind the two hanging sends");
  clock = 20_000; // the reservation ends while they hang
  await gate.releaseAll();
  await Promise.all([stalled, second, waiting]);
  assert.deepEqual(gate.calls.flat(), rows(1, 20).map((r) => r.outbox_id), "21-25 never sent here");
  assert.match(
    lines.join("\n"),
    /5 row\(s\) left to the scheduled dispatch: their reservation ended/,
  );
  assert.deepEqual(
    statements.flatMap((s) => s.values[0] as number[]).sort((a, b) => a - b),
    rows(1, 20).map((r) => r.outbox_id),
  );

  const full = afterAnswerSender(
    db,
    gate.send,
    15_000,
    (_kind, line) => lines.push(line),
    () => clock,
  );
  const many = full.send(rows(1000, MAX_BACKLOG + 3));
  await gate.releaseAll();
  await many;
  assert.equal(gate.calls.flat().filter((id) => id >= 1000).length, MAX_BACKLOG);
  assert.match(lines.join("\n"), /left to the scheduled dispatch: more than 20000 rows/);
  // Everything above was accounted for: the whole backlog is free again.
  const again = full.send(rows(100_000, MAX_BACKLOG));
  await gate.releaseAll();
  await again;
  assert.equal(gate.calls.flat().filter((id) => id >= 100_000).length, MAX_BACKLOG);
});

Deno.test("a settle the database never answers is given up; a send that throws fails its rows", async () => {
  const { db } = fakeDb();
  (db as unknown as { query: unknown }).query = () => new Promise(() => {});
  const lines: string[] = [];
  const throwing = () => Promise.reject(new Error("socket hang up"));
  const sender = afterAnswerSender(db, throwing, 15_000, (_kind, line) => lines.push(line));
  const started = Date.now();
  await sender.send(rows(1, 2));
  assert.ok(Date.now() - started >= SETTLE_TIMEOUT_MS - 50, "waited for the settle's deadline");
  assert.match(lines.join("\n"), /2 message\(s\) not sent, will retry: Error: socket hang up/);
  assert.match(lines.join("\n"), /2 row\(s\) not settled, left to dispatch: settle timed out/);
});
