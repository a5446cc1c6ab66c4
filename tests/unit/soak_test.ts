/** The soak's pure parts: its settings, handler, trend, checks and sampler's labels. */
import assert from "node:assert/strict";
import { soakSettings } from "../../scripts/soak.ts";
import {
  alertCheck,
  answerCheck,
  connectionCheck,
  jobCheck,
  leaseCheck,
  memoryCheck,
} from "../../scripts/soak/checks.ts";
import { modeOf, soakHandler } from "../../scripts/soak/handler.ts";
import { drawMode, type LoadRecord } from "../../scripts/soak/load.ts";
import { labelOf, type Sample } from "../../scripts/soak/sample.ts";
import { growth, warmUpSeconds } from "../../scripts/soak/trend.ts";
import type { ClaimedJob } from "../../worker/contract.ts";
import { PermanentJobError } from "../../worker/mod.ts";

Deno.test("soakSettings() defaults to 20 minutes with a report, and refuses bad arguments", () => {
  assert.deepEqual(soakSettings([]), { minutes: 20, writeReport: true });
  assert.deepEqual(soakSettings(["--minutes", "3", "--no-report"]), {
    minutes: 3,
    writeReport: false,
  });
  assert.throws(() => soakSettings(["--minutes", "0"]), /--minutes must be a number/);
  assert.throws(() => soakSettings(["--minutes"]), /--minutes must be a number/);
  assert.throws(() => soakSettings(["--minuts", "3"]), /Unknown argument '--minuts'/);
});

Deno.test("growth() is the fitted rise over the window: flat 0, a leak its share, a sawtooth small", () => {
  const at = Array.from({ length: 30 }, (_, i) => i * 30);
  assert.equal(growth(at.map((t) => ({ at: t, value: 100 }))), 0);
  const leak = growth(at.map((t) => ({ at: t, value: 100 + t / 29 })));
  assert.ok(Math.abs(leak - 0.3) < 0.01, `a steady 30% rise reads ${leak}`);
  const saw = growth(at.map((t, i) => ({ at: t, value: i % 5 === 4 ? 80 : 100 + 4 * (i % 5) })));
  assert.ok(Math.abs(saw) < 0.05, `a garbage collector's sawtooth reads ${saw}`);
  assert.equal(growth([{ at: 0, value: 5 }]), 0);
});

Deno.test("warmUpSeconds() is a quarter of the run, at least a minute", () => {
  assert.equal(warmUpSeconds(1200), 300);
  assert.equal(warmUpSeconds(120), 60);
});

function job(mode: string, attempt = 1): ClaimedJob {
  return {
    job_id: crypto.randomUUID(),
    attempt,
    lease: crypto.randomUUID(),
    customer_id: "c",
    package_size: 3,
    priority_level: 0,
    payload: { soak: mode },
  };
}

Deno.test("soakHandler(): each mode does what the soak expects of it", async () => {
  const handler = soakHandler({ jobMs: 0, hangMs: 30, random: () => 0 });
  const reports: number[] = [];
  const context = {
    signal: new AbortController().signal,
    progress: (done: number) => void reports.push(done),
  };
  assert.deepEqual(await handler(job("ok"), context), { directories_submitted: 3 });
  assert.deepEqual(reports, [1, 2, 3], "progress after each step");
  await assert.rejects(handler(job("flaky"), context), /timed out/);
  assert.deepEqual(await handler(job("flaky", 2), context), { directories_submitted: 3 });
  await assert.rejects(handler(job("reject"), context), PermanentJobError);
  await assert.rejects(handler(job("poison", 5), context), /poison/);
  // A hanging first attempt ignores its abort; the second works.
  const aborted = new AbortController();
  aborted.abort(new Error("timed out"));
  assert.deepEqual(await handler(job("hang"), { ...context, signal: aborted.signal }), {
    late: true,
  });
  assert.deepEqual(await handler(job("hang", 2), context), { directories_submitted: 3 });
  assert.equal(modeOf({ soak: "nonsense" }), "ok");
});

Deno.test("drawMode() draws mostly ok jobs and every other ordinary mode", () => {
  let seed = 1;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const counts = new Map<string, number>();
  for (let i = 0; i < 10_000; i++) {
    const mode = drawMode(random);
    counts.set(mode, (counts.get(mode) ?? 0) + 1);
  }
  assert.ok(counts.get("ok")! > 7_500 && counts.get("ok")! < 8_500);
  for (const mode of ["flaky", "hang", "reject"]) assert.ok(counts.get(mode)! > 200, mode);
  assert.equal(counts.get("poison"), undefined, "poison jobs come on their own schedule");
});

function samples(values: (t: number) => { kib: number; connections: number }): Sample[] {
  return Array.from({ length: 20 }, (_, i) => {
    const at = i * 30;
    const v = values(at);
    return {
      at,
      processes: [{ pid: 7, service: "functions", label: "x", kib: v.kib, rssKib: v.kib }],
      database: {
        connections: { a: v.connections },
        tableBytes: {},
        leases: 0,
        pending: 0,
        workersHoldingJobs: 0,
      },
    };
  });
}

Deno.test("memoryCheck() and connectionCheck() fail a steady rise after warm-up, not one before it", () => {
  const warm = samples((t) => ({ kib: t < 150 ? 1000 + 10 * t : 2500, connections: 10 }));
  assert.equal(memoryCheck(warm, 150).passed, true, memoryCheck(warm, 150).detail);
  assert.equal(connectionCheck(warm, 150).passed, true);
  const leaking = samples((t) => ({ kib: 1000 + t, connections: 10 + Math.floor(t / 60) }));
  const memory = memoryCheck(leaking, 150);
  assert.equal(memory.passed, false);
  assert.match(memory.detail, /functions: x \(pid 7\)/);
  assert.equal(connectionCheck(leaking, 150).passed, false);
});

Deno.test("jobCheck() passes only when every accepted job ended as its mode says, once", () => {
  const accepted = [{ id: "1", mode: "ok" as const }, { id: "2", mode: "poison" as const }];
  const good = [{ id: "1", status: "completed", endings: 1 }, {
    id: "2",
    status: "failed",
    endings: 1,
  }];
  assert.equal(jobCheck(accepted, good).passed, true);
  assert.equal(jobCheck(accepted, [good[0]!]).passed, false, "missing");
  assert.equal(jobCheck(accepted, [good[0]!, { ...good[1]!, status: "pending" }]).passed, false);
  const twice = jobCheck(accepted, [{ ...good[0]!, endings: 2 }, good[1]!]);
  assert.equal(twice.passed, false);
  assert.match(twice.detail, /ended 2 times/);
  assert.equal(jobCheck([], []).passed, false, "a soak that accepted nothing proves nothing");
});

Deno.test("leaseCheck() fails on a stale recovery or a lease held after the drain", () => {
  assert.equal(leaseCheck({ inProgress: 0, workersHoldingJobs: 0, recovered: 0 }).passed, true);
  assert.equal(leaseCheck({ inProgress: 1, workersHoldingJobs: 0, recovered: 0 }).passed, false);
  assert.equal(leaseCheck({ inProgress: 0, workersHoldingJobs: 1, recovered: 0 }).passed, false);
  assert.equal(leaseCheck({ inProgress: 0, workersHoldingJobs: 0, recovered: 1 }).passed, false);
});

Deno.test("alertCheck() wants each alert delivered and taken by Slack exactly once", () => {
  const alerts = [{ id: 1, kind: "dlq_triggered", delivered: true, text: "A" }];
  const posts = [{ status: 429, text: "A" }, { status: 200, text: "A" }];
  const ok = alertCheck(alerts, posts, 1);
  assert.equal(ok.passed, true, ok.detail);
  assert.match(ok.detail, /1 answered 429 and tried again/);
  assert.equal(alertCheck(alerts, [...posts, { status: 200, text: "A" }], 1).passed, false);
  assert.equal(alertCheck([{ ...alerts[0]!, delivered: false }], [posts[0]!], 1).passed, false);
  assert.equal(alertCheck([], [], 1).passed, false, "dead letters without an alert");
});

Deno.test("answerCheck() fails on any 5xx or unanswered request", () => {
  const record = (statuses: [string, number][], unanswered = 0): LoadRecord => ({
    statuses: new Map(statuses.map(([k, s]) => [k, new Map([[s, 3]])])),
    latencies: new Map(),
    accepted: [],
    unanswered: new Map(unanswered ? [["GET /health", unanswered]] : []),
    slackFaults: [],
  });
  assert.equal(answerCheck(record([["POST /queue", 202], ["POST /queue bulk", 429]])).passed, true);
  assert.equal(answerCheck(record([["GET /health", 503]])).passed, false);
  assert.equal(answerCheck(record([["GET /health", 200]], 1)).passed, false);
});

Deno.test("labelOf() names a process by its script, or by Postgres' own title", () => {
  assert.equal(
    labelOf("/usr/bin/deno\0run\0-A\0/w/scripts/stack/function_worker.ts\0queue\0"),
    "stack/function_worker.ts queue",
  );
  assert.equal(
    labelOf("postgres: postgres postgres 127.0.0.1(5432) idle\0"),
    "postgres: postgres postgres 127.0.0.1(5432) idle",
  );
  assert.equal(labelOf("/usr/lib/postgresql/15/bin/postgres\0-D\0/x\0"), "postgres");
});
