/**
 * Overload is not an outage: batched decisions, deadlines that shed, the circuit breaker, and
 * when the in-memory fallback may decide (only while the database is unreachable).
 */
import assert from "node:assert/strict";
import {
  batchingLimiter,
  type CallOutcome,
  Shed,
  Unanswered,
} from "../../supabase/functions/_shared/ratelimit/batching.ts";
import { circuitBreaker } from "../../supabase/functions/_shared/ratelimit/breaker.ts";
import { gcra } from "../../supabase/functions/_shared/ratelimit/gcra.ts";
import {
  type Ask,
  type BatchDecider,
  type Decision,
  type Limiter,
  memoryLimiter,
  withRefusalCache,
} from "../../supabase/functions/_shared/ratelimit/limiter.ts";
import {
  feedBreaker,
  resilientLimiter,
} from "../../supabase/functions/_shared/ratelimit/resilient.ts";
import { intervalLog } from "../../supabase/functions/_shared/log.ts";
import { isUnreachable } from "../../supabase/functions/_shared/errors.ts";

const request = (key = "k") => ({ key, limit: 100, periodMs: 60_000, failMode: "open" as const });
const admitted: Decision = { allowed: true, remaining: 1, resetMs: 0, retryAfterMs: 0 };
/** Lets the promise callbacks of an answered call run. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** A decider whose calls the test answers by hand. */
function manualDecider() {
  const calls: { asks: Ask[]; answer(): void; fail(error: unknown): void }[] = [];
  const decider: BatchDecider = {
    decide: (asks) =>
      new Promise((resolve, reject) => {
        calls.push({
          asks,
          answer: () => resolve(asks.map((a) => a.requests.map(() => admitted))),
          fail: reject,
        });
      }),
  };
  return { decider, calls };
}

Deno.test("batchingLimiter() sends a lone decision at once and gathers those that wait into one call", async () => {
  const { decider, calls } = manualDecider();
  const limiter = batchingLimiter(decider, { maxInFlight: 1, maxBatch: 500, maxQueued: 1000 });
  const first = limiter.check([request()]);
  assert.equal(calls.length, 1, "the first goes out at once");
  const rest = Array.from({ length: 300 }, (_, i) => limiter.check([request(`k${i}`)]));
  assert.equal(calls.length, 1, "the others wait for the call in flight");
  calls[0]!.answer();
  await first;
  await tick();
  assert.equal(calls.length, 2);
  assert.equal(calls[1]!.asks.length, 300, "all 300 in one call");
  calls[1]!.answer();
  assert.equal((await Promise.all(rest)).length, 300);
});

Deno.test("batchingLimiter() sheds a decision still waiting here at its deadline, and bounds the queue", async () => {
  const { decider, calls } = manualDecider();
  const limiter = batchingLimiter(decider, { maxInFlight: 1, maxBatch: 500, maxQueued: 2 });
  const inFlight = limiter.check([request()]);
  const waiting = limiter.check([request()], { deadline: Date.now() + 20 });
  const alsoWaiting = limiter.check([request()]);
  await assert.rejects(limiter.check([request()]), Shed, "a third in the queue is one too many");
  await assert.rejects(waiting, Shed);
  calls[0]!.answer();
  await inFlight;
  await tick();
  assert.equal(calls[1]!.asks.length, 1, "the shed decision was never sent");
  calls[1]!.answer();
  await alsoWaiting;
});

Deno.test("batchingLimiter() reports an idle call unanswered at its deadline, and its decision waits for the late answer", async () => {
  const { decider, calls } = manualDecider();
  const outcomes: CallOutcome[] = [];
  const limiter = batchingLimiter(decider, {
    maxInFlight: 1,
    maxBatch: 500,
    maxQueued: 100,
    onCall: (outcome) => outcomes.push(outcome),
  });
  const idle = limiter.check([request()], { deadline: Date.now() + 20 });
  const queued = limiter.check([request()], { deadline: Date.now() + 20 });
  await assert.rejects(queued, Shed, "a decision never sent is shed at its deadline");
  assert.deepEqual(outcomes, ["unanswered"], "the idle call counts against the breaker");
  calls[0]!.answer();
  assert.deepEqual(await idle, [admitted], "late, and still the answer");
  assert.deepEqual(outcomes, ["unanswered", "answered"]);
  await tick();
  const failing = limiter.check([request()]);
  calls[1]!.fail(Object.assign(new Error("refused"), { code: "ECONNREFUSED" }));
  await assert.rejects(failing, /refused/);
  assert.deepEqual(outcomes.at(-1), "failed");
});

Deno.test("batchingLimiter() lets every waiting decision go once giveUp() says the database is gone", async () => {
  const { decider, calls } = manualDecider();
  let open = false;
  const limiter = batchingLimiter(decider, {
    maxInFlight: 1,
    maxBatch: 500,
    maxQueued: 100,
    onCall: (outcome) => (open = outcome === "unanswered"),
    giveUp: () => open,
  });
  const overdue = limiter.check([request()], { deadline: Date.now() + 20 });
  const queued = limiter.check([request()], { deadline: Date.now() + 10_000 });
  await assert.rejects(overdue, Unanswered);
  await assert.rejects(queued, Unanswered, "the queue is let go too, long before its deadline");
  assert.equal(calls.length, 1, "and never sent");
  calls[0]!.answer(); // a late answer finds nobody waiting
});

Deno.test("circuitBreaker() opens after failures in a row, lets one probe through after the cooldown", () => {
  let clock = 0;
  const breaker = circuitBreaker({ threshold: 2, cooldownMs: 1000, now: () => clock });
  breaker.failure();
  assert.equal(breaker.gate(), "closed", "one failure is not enough");
  breaker.success();
  breaker.failure();
  assert.equal(breaker.gate(), "closed", "failures count only in a row");
  breaker.failure();
  assert.equal(breaker.gate(), "open");
  clock = 999;
  assert.equal(breaker.gate(), "open", "during the cooldown");
  clock = 1000;
  assert.equal(breaker.gate(), "probe", "then one probe");
  assert.equal(breaker.gate(), "open", "and only one");
  breaker.failure();
  assert.equal(breaker.gate(), "open", "a failed probe opens it again");
  clock = 2000;
  assert.equal(breaker.gate(), "probe");
  breaker.abandon();
  assert.equal(breaker.gate(), "probe", "an abandoned probe lets another try");
  breaker.success();
  assert.equal(breaker.gate(), "closed", "an answer closes it");
  assert.equal(breaker.isOpen(), false);
  for (let i = 0; i < 10; i++) breaker.failure(false);
  assert.equal(breaker.gate(), "closed", "calls unanswered by their deadline alone never open it");
  breaker.failure(true);
  assert.equal(breaker.gate(), "open", "with the database unreachable, they count");
});

Deno.test("feedBreaker() counts an unreachable database and silence, never an error it answered with", () => {
  const breaker = circuitBreaker({ threshold: 2 });
  const feed = feedBreaker(breaker);
  feed("failed", Object.assign(new Error("syntax"), { code: "42601" }));
  feed("failed", Object.assign(new Error("syntax"), { code: "42601" }));
  assert.equal(breaker.isOpen(), false, "a query error comes from a database that answered");
  feed("failed", Object.assign(new Error("refused"), { code: "ECONNREFUSED" }));
  feed("unanswered");
  assert.equal(breaker.isOpen(), true);
});

Deno.test("isUnreachable() knows refused, reset, terminated, timed-out and rejected connections", () => {
  for (const code of ["ECONNREFUSED", "ECONNRESET", "57P01", "08006", "28P01", "28000"]) {
    assert.ok(isUnreachable(Object.assign(new Error(code), { code })), code);
  }
  for (
    const message of [
      "Connection terminated unexpectedly",
      "timeout exceeded when trying to connect",
    ]
  ) {
    assert.ok(isUnreachable(new Error(message)), message);
  }
  assert.ok(!isUnreachable(Object.assign(new Error("x"), { code: "42883" })), "undefined function");
  assert.ok(!isUnreachable(new Unanswered("slow")), "slow is not unreachable");
});

function resilient(primary: Limiter, logged: string[] = []) {
  return resilientLimiter({
    primary,
    fallback: memoryLimiter(),
    timeoutMs: 300,
    log: (line) => logged.push(line),
  });
}

Deno.test("resilientLimiter() falls back at once when the database is unreachable, and only then", async () => {
  const refused: Limiter = {
    check: () => Promise.reject(Object.assign(new Error("refused"), { code: "ECONNREFUSED" })),
  };
  assert.equal((await resilient(refused).check([request()])).source, "memory");
  const closed = await resilient(refused).check([{ ...request(), failMode: "closed" }]);
  assert.equal(closed.source, "unavailable");
  for (const error of [new Shed("busy"), new Unanswered("slow"), new Error("a bug")]) {
    const failing: Limiter = { check: () => Promise.reject(error) };
    assert.equal((await resilient(failing).check([request()])).source, "shed", error.message);
  }
});

Deno.test("intervalLog() prints a kind once per interval and counts what it held back", () => {
  let clock = 0;
  const lines: string[] = [];
  const note = intervalLog((line) => lines.push(line), 10_000, () => clock);
  for (let i = 0; i < 5; i++) note("shed", "shed one");
  note("fallback", "fell back");
  clock = 10_000;
  note("shed", "shed one");
  assert.deepEqual(lines, [
    "shed one",
    "fell back",
    "shed one (and 4 more since the last such line)",
  ]);
});

Deno.test("gcra() and memoryLimiter() charge a request its cost, all or nothing", async () => {
  const r = gcra(undefined, 0, 5, 5000, 3);
  assert.deepEqual([r.decision.allowed, r.decision.remaining, r.tat], [true, 2, 3000]);
  assert.equal(gcra(r.tat, 0, 5, 5000, 3).decision.allowed, false, "3 more do not fit");
  assert.equal(gcra(r.tat, 0, 5, 5000, 2).decision.allowed, true, "2 do");
  const limiter = memoryLimiter(10, () => 0);
  const req = { key: "m", limit: 5, periodMs: 5000, failMode: "open" as const };
  assert.equal((await limiter.check([req], { cost: 4 }))[0]!.allowed, true);
  assert.equal((await limiter.check([req], { cost: 2 }))[0]!.allowed, false);
  assert.equal((await limiter.check([req]))[0]!.allowed, true, "the refused cost took nothing");
});

/** withRefusalCache() over an in-memory limiter that counts the calls reaching it. */
function cachedCounting(): { limiter: Limiter; calls(): number } {
  let calls = 0;
  const inner = memoryLimiter(10, () => 0);
  const counted: Limiter = {
    check: (r, o) => {
      calls++;
      return inner.check(r, o);
    },
  };
  return { limiter: withRefusalCache(counted, 10, () => 0), calls: () => calls };
}

Deno.test("withRefusalCache() answers only unit requests from what it remembers", async () => {
  const { limiter, calls } = cachedCounting();
  const req = { key: "c", limit: 1, periodMs: 1000, failMode: "open" as const };
  await limiter.check([req]);
  await limiter.check([req]); // refused: remembered
  await limiter.check([req]);
  assert.equal(calls(), 2, "the remembered refusal spares a call");
  await limiter.check([req], { cost: 2 });
  assert.equal(calls(), 3, "a request of another cost is asked for");
});

Deno.test("withRefusalCache() refuses a request when any of its policies is remembered refused", async () => {
  const { limiter, calls } = cachedCounting();
  const tight = { key: "tight", limit: 1, periodMs: 1000, failMode: "open" as const };
  const loose = { key: "loose", limit: 100, periodMs: 1000, failMode: "open" as const };
  assert.equal((await limiter.check([tight, loose]))[0]!.allowed, true);
  const refused = await limiter.check([tight, loose]); // tight is out of room: remembered
  assert.equal(calls(), 2);
  const cached = await limiter.check([tight, loose]);
  assert.equal(calls(), 2, "answered without asking");
  assert.deepEqual(cached.map((d) => d.allowed), [false, false]);
  assert.equal(cached[0]!.retryAfterMs, refused[0]!.retryAfterMs);
  assert.equal(cached[1]!.remaining, refused[1]!.remaining, "the other policy as last seen");
});

Deno.test("resilientLimiter() lets another decision probe when the probe never reached the database", async () => {
  let clock = 0;
  const breaker = circuitBreaker({ threshold: 1, cooldownMs: 1000, now: () => clock });
  breaker.failure();
  clock = 1000;
  // The probe is answered without a call (as from the refusal cache): the breaker hears nothing.
  const quiet: Limiter = { check: () => Promise.resolve([admitted]) };
  const limiter = resilientLimiter({
    primary: quiet,
    fallback: memoryLimiter(),
    timeoutMs: 300,
    breaker,
    log: () => {},
    now: () => clock,
  });
  await limiter.check([request()]);
  assert.equal(breaker.gate(), "probe", "the next decision may probe");
});
