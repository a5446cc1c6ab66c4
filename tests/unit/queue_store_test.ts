/** queue/store.ts: enqueues gathered across concurrent requests into private.enqueue_requests(). */
import assert from "node:assert/strict";
import { MAX_ENQUEUE_CALLS, sqlQueueStore } from "../../supabase/functions/queue/store.ts";
import { fakeDb } from "../_support/fakes.ts";

type Request = { customer_id: string; items: unknown[]; batch_key?: string };

/** A database that answers every item 'created' once released, recording each call's requests. */
function gatedDb(fail?: (call: number) => Error | undefined) {
  const calls: Request[][] = [];
  const gates: (() => void)[] = [];
  const { db } = fakeDb();
  (db as unknown as { query: unknown }).query = async (_text: string, values: unknown[]) => {
    const requests = JSON.parse(values[0] as string) as Request[];
    calls.push(requests);
    await new Promise<void>((resolve) => gates.push(resolve));
    const error = fail?.(calls.length);
    if (error) throw error;
    return {
      rows: requests.flatMap((r, request) =>
        r.items.map((_, item) => ({
          request,
          item,
          outcome: "created",
          job_id: `${r.customer_id}-${item}`,
          status: "pending",
          attempts: 0,
          created_at: "2026-11-29T00:00:00.000Z",
          outbox_id: 1,
          limit_remaining: null,
          limit_reset_ms: null,
          limit_retry_after_ms: null,
        })).reverse()
      ),
    };
  };
  const release = async () => {
    while (gates.length > 0) {
      gates.splice(0).forEach((go) => go());
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  return { db, calls, release };
}

const item = (key?: string) => ({
  package_size: 1,
  priority_level: 0,
  payload: {},
  ...(key ? { idempotency_key: key } : {}),
});
const options = { batchKey: null };

Deno.test("requests that arrive while calls are in flight share the next call; each gets its own jobs", async () => {
  const { db, calls, release } = gatedDb();
  const store = sqlQueueStore(db, 15);
  const results = ["a", "b", "c", "d", "e"].map((c) => store.enqueue(c, [item(), item()], options));
  assert.equal(calls.length, MAX_ENQUEUE_CALLS, "the first ones go at once");
  await release();
  const answers = await Promise.all(results);
  assert.deepEqual(calls.map((c) => c.map((r) => r.customer_id)), [["a"], ["b"], ["c", "d", "e"]]);
  answers.forEach((answer, i) => {
    assert.equal(answer.kind, "enqueued");
    if (answer.kind !== "enqueued") return;
    const customer = "abcde"[i];
    assert.deepEqual(
      answer.jobs.map((j) => j.job_id),
      [`${customer}-0`, `${customer}-1`],
      "in item order",
    );
  });
});

Deno.test("two requests using one key never share a call", async () => {
  const { db, calls, release } = gatedDb();
  const store = sqlQueueStore(db, 15);
  const results = [
    store.enqueue("x", [item()], options),
    store.enqueue("x", [item()], options),
    store.enqueue("acme", [item("k1")], options),
    store.enqueue("acme", [item("k1")], options),
    store.enqueue("globex", [item("k1")], options),
    store.enqueue("acme", [item()], { ...options, batchKey: "b" }),
    store.enqueue("acme", [item()], { ...options, batchKey: "b" }),
  ];
  await release();
  await Promise.all(results);
  for (const call of calls) {
    const keys = call.flatMap((r) => [
      ...r.items.flatMap((i) => (i as { idempotency_key?: string }).idempotency_key ?? []).map((
        k,
      ) => `job:${r.customer_id}:${k}`),
      ...(r.batch_key ? [`batch:${r.customer_id}:${r.batch_key}`] : []),
    ]);
    assert.equal(new Set(keys).size, keys.length, JSON.stringify(call));
  }
  assert.equal(calls.flat().length, 7, "every request was sent once");
});

Deno.test("a database out of reach fails every request of a call at once", async () => {
  const down = gatedDb(() => new Error("Connection terminated unexpectedly"));
  const store = sqlQueueStore(down.db, 15);
  const failing = Promise.allSettled(
    ["a", "b", "c", "d", "e"].map((c) => store.enqueue(c, [item()], options)),
  );
  await down.release();
  for (const result of await failing) {
    assert.equal(result.status, "rejected");
    assert.match(String((result as PromiseRejectedResult).reason), /Connection terminated/);
  }
  assert.ok(down.calls.some((c) => c.length > 1), "one call carried several requests");
  assert.equal(down.calls.flat().length, 5, "none was tried alone again");
});

Deno.test("any other failure of a shared call: each request goes again alone and fails only itself", async () => {
  const refused = Object.assign(new Error("value too long"), { code: "22001" });
  const calls: string[][] = [];
  const db = gatedDb();
  const inner = (db.db as unknown as { query: (t: string, v: unknown[]) => Promise<unknown> })
    .query;
  (db.db as unknown as { query: unknown }).query = (text: string, values: unknown[]) => {
    const customers = (JSON.parse(values[0] as string) as Request[]).map((r) => r.customer_id);
    calls.push(customers);
    return customers.includes("bad") ? Promise.reject(refused) : inner(text, values);
  };
  const store = sqlQueueStore(db.db, 15);
  const results = Promise.allSettled(
    ["a", "b", "bad", "c", "d"].map((c) => store.enqueue(c, [item()], options)),
  );
  await db.release();
  const outcomes = (await results).map((r) => r.status);
  assert.deepEqual(outcomes, ["fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"]);
  assert.ok(calls.some((c) => c.length > 1 && c.includes("bad")), "bad shared a call at first");
  assert.ok(calls.some((c) => c.length === 1 && c[0] === "bad"), "then went alone");
  // Halves, one after the other: never more than the two enqueue calls at once.
  assert.ok(calls.length <= 1 + 2 * 5, `${calls.length} calls`);
});

Deno.test("a lost key race or a deadlock is tried once more with the same values; twice fails", async () => {
  const race = Object.assign(new Error("an idempotency key was used"), { code: "40001" });
  const raced = gatedDb((call) => call === 1 ? race : undefined);
  const retried = sqlQueueStore(raced.db, 15).enqueue("a", [item("k")], options);
  await raced.release();
  assert.equal((await retried).kind, "enqueued");
  assert.equal(raced.calls.length, 2);
  assert.deepEqual(raced.calls[0], raced.calls[1], "the same call again");

  const deadlock = Object.assign(new Error("deadlock detected"), { code: "40P01" });
  const stuck = gatedDb(() => deadlock);
  const twice = sqlQueueStore(stuck.db, 15).enqueue("a", [item("k")], options);
  const settled = Promise.allSettled([twice]);
  await stuck.release();
  assert.equal((await settled)[0]!.status, "rejected");
  assert.equal(stuck.calls.length, 2);
});

Deno.test("a request the database answered with too few rows is an error, and only for it", async () => {
  const row = (request: number, item: number, job: string | null) => ({
    request,
    item,
    outcome: "created",
    job_id: job,
    status: "pending",
    attempts: 0,
    created_at: "t",
    outbox_id: 1,
    limit_remaining: null,
    limit_reset_ms: null,
    limit_retry_after_ms: null,
  });
  const { db } = gatedDb();
  (db as unknown as { query: unknown }).query = () =>
    Promise.resolve({
      rows: [row(0, 0, "a0"), row(0, 1, "a1"), row(1, 0, "b0"), row(2, 0, null), row(2, 1, "c1")],
    });
  const store = sqlQueueStore(db, 15);
  // Three requests in one call: the store is busy with two calls first.
  const busy = [store.enqueue("x", [item()], options), store.enqueue("y", [item()], options)];
  const results = Promise.allSettled([
    store.enqueue("a", [item(), item()], options),
    store.enqueue("b", [item(), item()], options),
    store.enqueue("c", [item(), item()], options),
  ]);
  await Promise.allSettled(busy);
  const [a, b, c] = await results;
  assert.equal(a!.status, "fulfilled");
  assert.match(String((b as PromiseRejectedResult).reason), /answered 1 jobs for 2 items/);
  assert.match(String((c as PromiseRejectedResult).reason), /answered 2 jobs for 2 items/);
});
