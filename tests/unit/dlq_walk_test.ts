/**
 * dlq-monitor/walk.ts and check.ts: reading the whole DLQ within a budget, against a queue with
 * visibility; one walk at a time; which rows a check may prune.
 */
import assert from "node:assert/strict";
import type { DeadLetter, DeadLetterQueue } from "../../supabase/functions/dlq-monitor/dlq.ts";
import { walkDeadLetters } from "../../supabase/functions/dlq-monitor/walk.ts";
import { checkDeadLetters, hideSecondsFor } from "../../supabase/functions/dlq-monitor/check.ts";
import type { MonitorStore } from "../../supabase/functions/dlq-monitor/store.ts";

/** A queue that hides what it hands out, like SQS; each receive takes `receiveMs` of the clock. */
function queueOf(count: number, receiveMs = 10) {
  let now = 0;
  const hiddenUntil = new Map<string, number>();
  const ids = Array.from({ length: count }, (_, i) => `m${String(i).padStart(3, "0")}`);
  let handles = 0;
  const visible = () => ids.filter((id) => (hiddenUntil.get(id) ?? 0) <= now);
  const dlq: DeadLetterQueue = {
    name: "jobs-dlq",
    url: "http://sqs/jobs-dlq",
    depth: () => Promise.resolve({ visible: visible().length, inFlight: count - visible().length }),
    peek: () => Promise.reject(new Error("unused")),
    receive(max, visibilitySeconds) {
      now += receiveMs;
      const batch = visible().slice(0, max);
      batch.forEach((id) => hiddenUntil.set(id, now + visibilitySeconds * 1000));
      return Promise.resolve(batch.map((id): DeadLetter => ({
        messageId: id,
        receiptHandle: `${id}/${++handles}`,
        receiveCount: 4,
        jobId: crypto.randomUUID(),
      })));
    },
    setVisibility(messages, seconds) {
      messages.forEach((m) => hiddenUntil.set(m.messageId, now + seconds * 1000));
      return Promise.resolve();
    },
    delete: () => Promise.reject(new Error("unused")),
  };
  return {
    dlq,
    now: () => now,
    later: (ms: number) => (now += ms),
    visible: () => visible().length,
  };
}

function recorder(fail = false) {
  const batches: string[][] = [];
  return {
    batches,
    store: {
      recordDeadLetters(letters: DeadLetter[]) {
        if (fail) return Promise.reject(new Error("database gone"));
        batches.push(letters.map((l) => l.messageId));
        return Promise.resolve({ settled: letters.length });
      },
    },
  };
}

Deno.test("a walk reads every message once, records them in batches, and shows them all again", async () => {
  const q = queueOf(600);
  const r = recorder();
  const result = await walkDeadLetters({
    dlq: q.dlq,
    store: r.store,
    budgetMs: 20_000,
    hideSeconds: hideSecondsFor(20_000),
    now: q.now,
  });
  assert.equal(result.walked, true);
  assert.equal(result.read, 600);
  assert.deepEqual(result.actions, { settled: 600 });
  assert.deepEqual(r.batches.map((b) => b.length), [250, 250, 100]);
  assert.equal(new Set(r.batches.flat()).size, 600, "each message recorded once");
  assert.equal(q.visible(), 600, "the DLQ looks as before the walk");
  // 60 receives with messages, 1 that finds none, 60 visibility batches.
  assert.equal(result.sqsCalls, 121);
});

Deno.test("a walk out of budget leaves what it read hidden, and the next run goes on from there", async () => {
  const q = queueOf(50, 1_000);
  const r = recorder();
  const budgetMs = 2_500;
  const deps = {
    dlq: q.dlq,
    store: r.store,
    budgetMs,
    hideSeconds: hideSecondsFor(budgetMs),
    now: q.now,
  };
  const first = await walkDeadLetters(deps);
  assert.equal(first.walked, false);
  assert.equal(first.read, 30);
  assert.equal(q.visible(), 20, "the 30 read stay hidden");
  q.later(60_000); // the next scheduled run
  const second = await walkDeadLetters(deps);
  assert.equal(second.read, 20, "the next run reads the ones the first did not reach");
  q.later(10_000);
  const third = await walkDeadLetters(deps);
  assert.equal(third.walked, true);
  assert.deepEqual(new Set(r.batches.flat()).size, 50, "every message recorded");
  q.later(hideSecondsFor(budgetMs) * 1000);
  assert.equal(q.visible(), 50, "and all are visible again");
});

Deno.test("a walk whose recording fails shows the messages again and reports the failure", async () => {
  const q = queueOf(30);
  await assert.rejects(
    walkDeadLetters({
      dlq: q.dlq,
      store: recorder(true).store,
      budgetMs: 20_000,
      hideSeconds: 110,
      now: q.now,
    }),
    /database gone/,
  );
  assert.equal(q.visible(), 30);
});

/** A store for checkDeadLetters(): the walk lease, and what the check asked to prune. */
function checkStore(options: { walkTaken?: boolean } = {}) {
  const calls = { claimed: 0, released: 0, prune: [] as unknown[] };
  const store = {
    now: () => Promise.resolve("2026-11-29 12:00:00+00"),
    claimDlq: () => {
      calls.claimed++;
      return Promise.resolve(options.walkTaken ? null : "lease-1");
    },
    releaseDlq: () => {
      calls.released++;
      return Promise.resolve();
    },
    recordDeadLetters: (letters: DeadLetter[]) => Promise.resolve({ settled: letters.length }),
    finishCheck: (_depth: number, prune: unknown) => {
      calls.prune.push(prune);
      return Promise.resolve({
        alert: null,
        previousDepth: 0,
        incidentSince: null,
        pruned: 0,
        summary: { recorded: 0, byAction: {}, customers: [], examples: [] },
        alertId: null,
      });
    },
  } as unknown as MonitorStore;
  return { store, calls };
}

const check = (q: ReturnType<typeof queueOf>, store: MonitorStore) =>
  checkDeadLetters({ dlq: q.dlq, store, region: "eu-west-1", walkBudgetMs: 20_000, now: q.now });

Deno.test("a check walks under the lease, and prunes only rows unseen for longer than a walk hides one", async () => {
  const q = queueOf(40);
  const { store, calls } = checkStore();
  const result = await check(q, store);
  assert.equal(result.read, 40);
  assert.equal(result.deadLettered, 40);
  assert.deepEqual([calls.claimed, calls.released], [1, 1]);
  // A walk cut short may still hide messages, and SQS's in-flight count lags: so a margin.
  assert.deepEqual(calls.prune, [{
    since: "2026-11-29 12:00:00+00",
    marginSeconds: hideSecondsFor(20_000),
  }]);
});

Deno.test("a check that finds another walking does not walk or prune, and says so", async () => {
  const q = queueOf(40);
  const { store, calls } = checkStore({ walkTaken: true });
  const result = await check(q, store);
  assert.equal(result.read, 0);
  assert.equal(result.walked, false);
  assert.equal(result.skipped, "another check or a redrive holds the DLQ");
  assert.equal(calls.released, 0, "it never held the lease");
  assert.deepEqual(calls.prune, [null]);
});

Deno.test("a check of an empty DLQ takes no lease and prunes every row", async () => {
  const q = queueOf(0);
  const { store, calls } = checkStore();
  const result = await check(q, store);
  assert.equal(result.walked, true);
  assert.equal(calls.claimed, 0);
  assert.deepEqual(calls.prune, [{ since: "2026-11-29 12:00:00+00", marginSeconds: 0 }]);
});
